package org.biobertner;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The bundle whose golden fixtures the parity tests replay: {@code -Dbundle.dir=DIR} (the pom's
 * default is the committed tiny bundle, ../tests/fixtures/golden/tiny-bundle). Without one, the
 * parity tests are skipped with a message saying so; the pure-Java tests always run.
 */
final class GoldenBundle {

    private GoldenBundle() {}

    /** The golden bundle, or the test is skipped with a message saying why. */
    static Path dir() {
        Path dir = find();
        assumeTrue(dir != null, missing());
        return dir;
    }

    /** The golden bundle, or null. */
    static Path find() {
        String property = System.getProperty("bundle.dir");
        if (property == null || property.isBlank()) {
            return null;
        }
        Path dir = Path.of(property);
        return Files.isRegularFile(dir.resolve(Bundle.GOLDEN_JSON)) ? dir : null;
    }

    private static String missing() {
        String property = System.getProperty("bundle.dir");
        return property == null || property.isBlank()
                ? "no golden bundle: run with -Dbundle.dir=DIR (a folder written by `biobert-ner export`); parity test skipped"
                : "no golden bundle at " + Path.of(property).toAbsolutePath() + " (no golden.json): parity test skipped";
    }

    static JsonObject golden(Path dir) {
        return Bundle.readObject(dir.resolve(Bundle.GOLDEN_JSON));
    }

    static List<JsonObject> fixtures(JsonObject golden) {
        List<JsonObject> fixtures = new ArrayList<>();
        for (JsonElement fixture : golden.getAsJsonArray("fixtures")) {
            fixtures.add(fixture.getAsJsonObject());
        }
        return fixtures;
    }

    static int[] ints(JsonArray array) {
        int[] values = new int[array.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = array.get(i).getAsInt();
        }
        return values;
    }

    /** {@code [windows][rows][labels]} exactly as written: each value parsed straight to float32. */
    static List<float[][]> logits(JsonObject fixture) {
        List<float[][]> windows = new ArrayList<>();
        for (JsonElement window : fixture.getAsJsonArray("logits")) {
            JsonArray rows = window.getAsJsonArray();
            float[][] values = new float[rows.size()][];
            for (int r = 0; r < values.length; r++) {
                JsonArray row = rows.get(r).getAsJsonArray();
                values[r] = new float[row.size()];
                for (int c = 0; c < values[r].length; c++) {
                    values[r][c] = row.get(c).getAsFloat();
                }
            }
            windows.add(values);
        }
        return windows;
    }

    /**
     * The IOB2 decoding tables of {@code labels}, taken from the golden bundle's (written by Python's
     * {@code schemes.decoding_tables}; the rule is pairwise, so any subset of its labels has the
     * subset of its tables). Tests hold no copy of the rule either.
     */
    static DecodingTables iob2Tables(List<String> labels) {
        DecodingTables all = Bundle.load(dir()).tables();
        int[] index = labels.stream().mapToInt(label -> all.labels().indexOf(label)).toArray();
        boolean[] starts = new boolean[index.length];
        boolean[] ends = new boolean[index.length];
        boolean[][] transitions = new boolean[index.length][index.length];
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0) {
                throw new IllegalArgumentException(labels.get(i) + " is not a label of the golden bundle " + all.labels());
            }
            starts[i] = all.starts()[index[i]];
            ends[i] = all.ends()[index[i]];
            for (int j = 0; j < index.length; j++) {
                transitions[i][j] = all.transitions()[index[i]][index[j]];
            }
        }
        return new DecodingTables(labels, all.prefixes(), starts, transitions, ends);
    }
}
