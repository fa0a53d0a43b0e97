package org.biobertner;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * An entity found in raw text: {@code source.substring(start, end).equals(text)}.
 *
 * <p>{@code start}/{@code end} are half-open UTF-16 indices into the Java {@code String};
 * {@code codePointStart}/{@code codePointEnd} are the same span in code points, which is what
 * Python reports and what the JSON output carries (so both command lines print the same offsets).
 */
public record Entity(String type, String text, int start, int end, int codePointStart, int codePointEnd, double score) {

    /** Build an entity from a UTF-16 span of {@code source}. */
    public static Entity fromUtf16Span(String source, String type, int start, int end, double score) {
        return new Entity(type, source.substring(start, end), start, end,
                PreTokenizer.codePointIndex(source, start), PreTokenizer.codePointIndex(source, end), score);
    }

    /**
     * The score as Python's {@code Entity.to_dict} writes it: {@code round(score, 4)}, printed the
     * way Python prints that float ({@code 0.5}, {@code 1.0}, {@code 0.1235}).
     */
    public String roundedScore() {
        BigDecimal rounded = new BigDecimal(score).setScale(4, RoundingMode.HALF_EVEN).stripTrailingZeros();
        if (rounded.scale() < 1) {
            rounded = rounded.setScale(1, RoundingMode.UNNECESSARY);
        }
        return rounded.toPlainString();
    }
}
