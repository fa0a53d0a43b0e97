package org.biobertner;

/**
 * One pre-tokenized word and where it came from: {@code source.substring(start, end).equals(text)}.
 *
 * <p>Offsets are half-open UTF-16 indices into the Java {@code String} (Python's {@code Word} counts
 * code points; {@link PreTokenizer#codePointIndex} converts).
 */
public record Word(String text, int start, int end) {}
