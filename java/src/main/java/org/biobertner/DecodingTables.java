package org.biobertner;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What a sequence decoder may choose, read from {@code bundle.json}'s {@code decoding_tables}: the
 * Java twin of Python's {@code schemes.DecodingTables}, which derives them from the tagging
 * scheme's table. Java holds no copy of the scheme's rule: it searches (and repairs with) these.
 *
 * @param labels label names in label-id order ({@code labels.json})
 * @param prefixes the prefixes a label may have besides {@code O}
 * @param starts {@code starts[j]}: a sentence may start with label {@code j}
 * @param transitions {@code transitions[i][j]}: label {@code j} may follow label {@code i}
 * @param ends {@code ends[i]}: a sentence may end with label {@code i}
 */
public record DecodingTables(List<String> labels, List<String> prefixes, boolean[] starts, boolean[][] transitions, boolean[] ends) {

    public DecodingTables {
        labels = List.copyOf(labels);
        prefixes = List.copyOf(prefixes);
        Objects.requireNonNull(starts, "starts");
        Objects.requireNonNull(transitions, "transitions");
        Objects.requireNonNull(ends, "ends");
    }

    /** {@code decoding_tables} of {@code bundle.json}: the prefixes, and tables sized for the labels. */
    static DecodingTables read(Path bundleJson, JsonObject info, List<String> labels) {
        JsonObject tables = Bundle.objectField(bundleJson, info, "decoding_tables");
        List<String> prefixes = Bundle.stringList(bundleJson, tables, "prefixes");
        int n = labels.size();
        boolean[] starts = booleans(bundleJson, tables.get("starts"), "decoding_tables.starts", n);
        boolean[] ends = booleans(bundleJson, tables.get("ends"), "decoding_tables.ends", n);
        JsonElement rows = tables.get("transitions");
        if (rows == null || !rows.isJsonArray() || rows.getAsJsonArray().size() != n) {
            throw new BundleException(bundleJson, "decoding_tables.transitions must be " + n + " lists of " + n + " booleans");
        }
        boolean[][] transitions = new boolean[n][];
        for (int i = 0; i < n; i++) {
            transitions[i] = booleans(bundleJson, rows.getAsJsonArray().get(i), "decoding_tables.transitions", n);
        }
        return new DecodingTables(labels, prefixes, starts, transitions, ends);
    }

    /** Checked against the labels: each label's prefix must be one of {@link #prefixes()}. */
    static List<String> checkLabels(Path labelsJson, List<String> labels, List<String> prefixes, String scheme) {
        for (String label : labels) {
            Schemes.Tag tag;
            try {
                tag = Schemes.splitTag(label);
            } catch (IllegalArgumentException error) {
                throw new BundleException(labelsJson, error.getMessage(), error);
            }
            if (!tag.prefix().equals(Schemes.OUTSIDE) && !prefixes.contains(tag.prefix())) {
                throw new BundleException(labelsJson, "label '" + label + "' is not an " + scheme + " tag (prefix '"
                        + tag.prefix() + "' is not among " + prefixes + ")");
            }
        }
        return labels;
    }

    private static boolean[] booleans(Path bundleJson, JsonElement value, String key, int size) {
        if (value == null || !value.isJsonArray() || value.getAsJsonArray().size() != size) {
            throw new BundleException(bundleJson, key + " must be a list of " + size + " booleans (one per label)");
        }
        JsonArray array = value.getAsJsonArray();
        boolean[] result = new boolean[size];
        for (int i = 0; i < size; i++) {
            JsonElement item = array.get(i);
            if (!item.isJsonPrimitive() || !item.getAsJsonPrimitive().isBoolean()) {
                throw new BundleException(bundleJson, key + " must be a list of " + size + " booleans, found " + item);
            }
            result[i] = item.getAsBoolean();
        }
        return result;
    }

    /** Whether label {@code next} may follow label {@code previous} ({@code -1}: the sentence's start). */
    public boolean allows(int previous, int next) {
        return previous < 0 ? starts[next] : transitions[previous][next];
    }

    /**
     * Any label sequence made valid: a label the tables do not allow where it stands starts its
     * entity instead (the label of its type that may start a sentence: {@code I-X} becomes
     * {@code B-X} in IOB2). Python's {@code schemes.repair_iob2}, read from the tables.
     */
    public List<String> repair(List<String> tags) {
        List<String> repaired = new ArrayList<>(tags.size());
        int previous = -1;
        for (String tag : tags) {
            int label = labels.indexOf(tag);
            if (label < 0) {
                throw new IllegalArgumentException("tag '" + tag + "' is not one of the labels " + labels);
            }
            if (!allows(previous, label)) {
                label = entityStart(label);
            }
            repaired.add(labels.get(label));
            previous = label;
        }
        return repaired;
    }

    /** The label of the same entity type that may start a sentence (itself if it may). */
    private int entityStart(int label) {
        String type = Schemes.splitTag(labels.get(label)).type();
        for (int candidate = 0; candidate < labels.size(); candidate++) {
            if (starts[candidate] && Objects.equals(type, Schemes.splitTag(labels.get(candidate)).type())) {
                return candidate;
            }
        }
        throw new IllegalStateException("no label of type " + type + " may start an entity in these tables");
    }
}
