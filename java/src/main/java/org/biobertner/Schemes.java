package org.biobertner;

import java.util.ArrayList;
import java.util.List;

/**
 * The parts of {@code biobert_ner/schemes.py} that decoding needs: {@code split_tag} and
 * {@code spans_from_tags}. Which tags may follow which is not written here: it is data, the
 * bundle's {@link DecodingTables} ({@code repair_iob2} is {@link DecodingTables#repair}). Spans are
 * half-open word ranges.
 */
public final class Schemes {

    public static final String OUTSIDE = "O";

    /** A parsed tag: {@code B-Disease} is prefix {@code B}, type {@code Disease}; {@code O} has no type. */
    public record Tag(String prefix, String type) {}

    private Schemes() {}

    /** {@code "B-Disease"} to {@code (B, Disease)}, {@code "O"} to {@code (O, null)}; anything else is an error. */
    public static Tag splitTag(String tag) {
        if (OUTSIDE.equals(tag)) {
            return new Tag(OUTSIDE, null);
        }
        int dash = tag.indexOf('-');
        if (dash != 1 || dash == tag.length() - 1) {
            throw new IllegalArgumentException(
                    "malformed tag '" + tag + "': expected 'O' or '<prefix>-<type>' such as 'B-Disease'");
        }
        return new Tag(tag.substring(0, 1), tag.substring(2));
    }

    /**
     * Entity spans of a tag sequence in IO, IOB1, IOB2 or IOBES, read leniently like conlleval: an
     * entity starts at B/S or at an I/E that does not continue the entity before it, and ends at E/S
     * or where the next tag does not continue it.
     */
    public static List<Span> spansFromTags(List<String> tags) {
        List<Span> spans = new ArrayList<>();
        int start = -1;
        String currentType = null;
        for (int i = 0; i < tags.size(); i++) {
            Tag tag = splitTag(tags.get(i));
            String prefix = tag.prefix();
            boolean continues = start >= 0
                    && (prefix.equals("I") || prefix.equals("E"))
                    && tag.type().equals(currentType);
            if (!continues && start >= 0) {
                spans.add(new Span(start, i, currentType));
                start = -1;
                currentType = null;
            }
            if (!prefix.equals(OUTSIDE) && start < 0) {
                start = i;
                currentType = tag.type();
            }
            if ((prefix.equals("E") || prefix.equals("S")) && start >= 0) {
                spans.add(new Span(start, i + 1, currentType));
                start = -1;
                currentType = null;
            }
        }
        if (start >= 0) {
            spans.add(new Span(start, tags.size(), currentType));
        }
        return spans;
    }
}
