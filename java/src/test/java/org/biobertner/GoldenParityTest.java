package org.biobertner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.biobertner.cli.Cli;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Java against the golden fixtures written by Python ({@code biobert_ner.export}): same words,
 * same sub-word ids and windows, logits within the bundle's tolerance, same entities.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GoldenParityTest {

    private Path dir;
    private NerModel model;
    private JsonObject golden;
    private List<JsonObject> fixtures;
    private float tolerance;

    @BeforeAll
    void load() {
        dir = GoldenBundle.find();
        if (dir == null) {
            return; // every test is skipped, with GoldenBundle's message
        }
        golden = GoldenBundle.golden(dir);
        fixtures = GoldenBundle.fixtures(golden);
        tolerance = golden.get("tolerance").getAsFloat();
        model = NerModel.load(dir, new NerModel.Options(2, 8));
    }

    @BeforeEach
    void requireBundle() {
        GoldenBundle.dir(); // skips the test, saying why, when there is no bundle
    }

    @AfterAll
    void close() {
        if (model != null) {
            model.close();
        }
    }

    Stream<String> names() {
        if (fixtures == null) {
            return Stream.of("no golden bundle"); // one invocation, skipped by requireBundle()
        }
        return fixtures.stream().map(fixture -> fixture.get("name").getAsString());
    }

    private JsonObject fixture(String name) {
        return fixtures.stream().filter(f -> f.get("name").getAsString().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void bundleSettingsMatchTheFixtures() {
        List<String> labels = new ArrayList<>();
        golden.getAsJsonArray("labels").forEach(label -> labels.add(label.getAsString()));
        assertEquals(labels, model.labelNames());
        // the windows and the decoding the fixtures were made with are stored once, in bundle.json
        JsonObject info = Bundle.readObject(model.bundle().dir().resolve(Bundle.BUNDLE_JSON));
        assertEquals(info.get("window_length").getAsInt(), model.bundle().windowLength());
        assertEquals(info.get("stride").getAsInt(), model.bundle().stride());
        assertEquals(info.get("decoding").getAsString(), model.bundle().decoding().value());
        assertFalse(golden.has("max_length") || golden.has("window_length"), "golden.json keeps no second copy");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("names")
    void encodingMatchesPython(String name) {
        JsonObject fixture = fixture(name);
        String text = fixture.get("text").getAsString();
        DocumentEncoding encoding = model.encode(text);

        JsonArray words = fixture.getAsJsonArray("words");
        assertEquals(words.size(), encoding.words().size(), "number of words");
        for (int i = 0; i < words.size(); i++) {
            JsonArray expected = words.get(i).getAsJsonArray();
            Word word = encoding.words().get(i);
            assertEquals(expected.get(0).getAsString(), word.text(), "word " + i);
            assertEquals(expected.get(1).getAsInt(), PreTokenizer.codePointIndex(text, word.start()), "start of word " + i);
            assertEquals(expected.get(2).getAsInt(), PreTokenizer.codePointIndex(text, word.end()), "end of word " + i);
        }
        assertArrayEquals(GoldenBundle.ints(fixture.getAsJsonArray("token_ids")), encoding.tokenIds(), "token ids");
        assertArrayEquals(GoldenBundle.ints(fixture.getAsJsonArray("word_ids")), encoding.wordIds(), "word ids");
        JsonArray windows = fixture.getAsJsonArray("windows");
        assertEquals(windows.size(), encoding.windows().size(), "number of windows");
        for (int i = 0; i < windows.size(); i++) {
            int[] window = GoldenBundle.ints(windows.get(i).getAsJsonArray());
            assertEquals(new Window(window[0], window[1]), encoding.windows().get(i));
            assertArrayEquals(GoldenBundle.ints(fixture.getAsJsonArray("window_input_ids").get(i).getAsJsonArray()),
                    encoding.windowInputIds().get(i), "input ids of window " + i);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("names")
    void logitsWithinTolerance(String name) {
        JsonObject fixture = fixture(name);
        List<float[][]> expected = GoldenBundle.logits(fixture);
        List<float[][]> actual = model.logits(fixture.get("text").getAsString());
        assertEquals(expected.size(), actual.size(), "number of windows");
        float worst = 0f;
        for (int w = 0; w < expected.size(); w++) {
            assertEquals(expected.get(w).length, actual.get(w).length, "rows of window " + w);
            for (int r = 0; r < expected.get(w).length; r++) {
                for (int c = 0; c < expected.get(w)[r].length; c++) {
                    worst = Math.max(worst, Math.abs(expected.get(w)[r][c] - actual.get(w)[r][c]));
                }
            }
        }
        assertTrue(worst < tolerance, name + ": max |logit diff| " + worst + " >= " + tolerance);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("names")
    void decodingThePythonLogitsGivesThePythonEntities(String name) {
        JsonObject fixture = fixture(name);
        DocumentEncoding encoding = model.encode(fixture.get("text").getAsString());
        List<Entity> entities = Decoder.decodeDocument(
                encoding, GoldenBundle.logits(fixture), model.bundle().tables(), model.bundle().decoding());
        assertSameEntities(fixture, entities, 1e-6);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("names")
    void predictGivesThePythonEntities(String name) {
        JsonObject fixture = fixture(name);
        assertSameEntities(fixture, model.predict(fixture.get("text").getAsString()), tolerance);
    }

    @Test
    void batchPredictionEqualsOneByOne() {
        List<String> texts = fixtures.stream().map(f -> f.get("text").getAsString()).collect(Collectors.toList());
        List<List<Entity>> batch = model.predictBatch(texts);
        for (int i = 0; i < texts.size(); i++) {
            assertSameEntities(fixtures.get(i), batch.get(i), tolerance);
        }
    }

    @Test
    void threadSafe() throws Exception {
        List<String> texts = fixtures.stream().map(f -> f.get("text").getAsString()).collect(Collectors.toList());
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<List<List<Entity>>>> futures = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                futures.add(pool.submit(() -> {
                    List<List<Entity>> results = new ArrayList<>();
                    for (String text : texts) {
                        results.add(model.predict(text));
                    }
                    return results;
                }));
            }
            for (Future<List<List<Entity>>> future : futures) {
                List<List<Entity>> results = future.get();
                for (int i = 0; i < texts.size(); i++) {
                    assertSameEntities(fixtures.get(i), results.get(i), tolerance);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void commandLinePrintsThePythonEntities(@TempDir Path tmp) throws Exception {
        List<JsonObject> oneLine = fixtures.stream()
                .filter(f -> !f.get("text").getAsString().contains("\n") && !f.get("text").getAsString().contains("\r"))
                .collect(Collectors.toList());
        Path input = tmp.resolve("input.txt");
        Files.write(input, oneLine.stream().map(f -> f.get("text").getAsString()).collect(Collectors.toList()), StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Cli.run(new String[] {"predict", "--bundle", dir.toString(), "--input", input.toString()},
                new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        String[] lines = out.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(oneLine.size(), lines.length);
        for (int i = 0; i < lines.length; i++) {
            JsonObject line = JsonParser.parseString(lines[i]).getAsJsonObject();
            JsonObject fixture = oneLine.get(i);
            assertEquals(fixture.get("text").getAsString(), line.get("text").getAsString());
            JsonArray expected = fixture.getAsJsonArray("entities");
            JsonArray actual = line.getAsJsonArray("entities");
            assertEquals(expected.size(), actual.size(), fixture.get("name").getAsString());
            for (int e = 0; e < expected.size(); e++) {
                JsonObject want = expected.get(e).getAsJsonObject();
                JsonObject got = actual.get(e).getAsJsonObject();
                assertEquals(Set.of("type", "text", "start", "end", "score"), got.keySet());
                for (String key : List.of("type", "text", "start", "end")) {
                    assertEquals(want.get(key), got.get(key), key);
                }
                assertEquals(want.get("score").getAsDouble(), got.get("score").getAsDouble(), 1.5e-4);
            }
        }
    }

    @Test
    void characterClassesMatchPythonWhereBothKnowTheCharacter() {
        JsonObject table = golden.getAsJsonObject("pretokenizer");
        assertEquals(PreTokenizer.NAME, table.get("name").getAsString());
        Set<Integer> space = new HashSet<>();
        table.getAsJsonArray("white_space_code_points").forEach(c -> space.add(c.getAsInt()));
        boolean[] word = flags(table.getAsJsonArray("word_character_ranges"));
        boolean[] separator = flags(table.getAsJsonArray("separator_ranges"));
        boolean[] unassigned = flags(table.getAsJsonArray("unassigned_ranges"));
        int compared = 0;
        List<String> mismatches = new ArrayList<>();
        for (int c = 0; c <= Character.MAX_CODE_POINT; c++) {
            assertEquals(space.contains(c), PreTokenizer.isSpace(c), "white space U+" + Integer.toHexString(c));
            if (unassigned[c] || Character.getType(c) == Character.UNASSIGNED) {
                continue; // one of the two Unicode versions does not know this character yet
            }
            compared++;
            boolean differs = word[c] != PreTokenizer.isWordChar(c) || separator[c] != PreTokenizer.isSeparator(c);
            if (differs && mismatches.size() < 10) {
                mismatches.add("U+" + Integer.toHexString(c).toUpperCase());
            }
        }
        assertEquals(List.of(), mismatches, "character classes differ from Python (Unicode " + table.get("unicode_version") + ")");
        assertTrue(compared > 250_000, "compared " + compared + " code points");
    }

    private static boolean[] flags(JsonArray ranges) {
        boolean[] flags = new boolean[Character.MAX_CODE_POINT + 1];
        for (JsonElement range : ranges) {
            int[] bounds = GoldenBundle.ints(range.getAsJsonArray());
            for (int c = bounds[0]; c <= bounds[1]; c++) {
                flags[c] = true;
            }
        }
        return flags;
    }

    /** Same type, text and offsets (code points and UTF-16) in the same order, scores within {@code tolerance}. */
    static void assertSameEntities(JsonObject fixture, List<Entity> actual, double tolerance) {
        String name = fixture.get("name").getAsString();
        JsonArray expected = fixture.getAsJsonArray("entities");
        assertEquals(expected.size(), actual.size(), name + ": number of entities, got " + actual);
        for (int i = 0; i < expected.size(); i++) {
            JsonObject want = expected.get(i).getAsJsonObject();
            Entity got = actual.get(i);
            String where = name + ", entity " + i;
            assertEquals(want.get("type").getAsString(), got.type(), where);
            assertEquals(want.get("text").getAsString(), got.text(), where);
            assertEquals(want.get("start").getAsInt(), got.codePointStart(), where + ": code-point start");
            assertEquals(want.get("end").getAsInt(), got.codePointEnd(), where + ": code-point end");
            assertEquals(want.get("utf16_start").getAsInt(), got.start(), where + ": UTF-16 start");
            assertEquals(want.get("utf16_end").getAsInt(), got.end(), where + ": UTF-16 end");
            assertEquals(want.get("score").getAsDouble(), got.score(), tolerance, where + ": score");
        }
    }
}
