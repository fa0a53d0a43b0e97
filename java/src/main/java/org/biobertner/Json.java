package org.biobertner;

import java.util.List;

/**
 * The JSON-lines output shared with the Python command line ({@code biobert-ner predict}), written
 * byte for byte as Python's {@code json.dumps(record, ensure_ascii=False)} writes it: same key order,
 * same separators ({@code ", "} and {@code ": "}), same escapes, offsets in code points and the score
 * rounded like {@code Entity.to_dict}. The two command lines print identical lines for the same input
 * (a score can differ in its last digit when the two runtimes round a probability differently).
 */
public final class Json {

    private Json() {}

    /** {@code {"text": ..., "entities": [{"type": ..., "text": ..., "start": ..., "end": ..., "score": ...}]}}. */
    public static String predictionLine(String text, List<Entity> entities) {
        StringBuilder out = new StringBuilder(64 + 2 * text.length());
        out.append("{\"text\": ");
        string(out, text);
        out.append(", \"entities\": [");
        for (int i = 0; i < entities.size(); i++) {
            if (i > 0) {
                out.append(", ");
            }
            entity(out, entities.get(i));
        }
        return out.append("]}").toString();
    }

    static void entity(StringBuilder out, Entity entity) {
        out.append("{\"type\": ");
        string(out, entity.type());
        out.append(", \"text\": ");
        string(out, entity.text());
        out.append(", \"start\": ").append(entity.codePointStart());
        out.append(", \"end\": ").append(entity.codePointEnd());
        out.append(", \"score\": ").append(entity.roundedScore()).append('}');
    }

    /** A JSON string as Python's {@code json.dumps(..., ensure_ascii=False)} writes it. */
    static void string(StringBuilder out, String value) {
        out.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
