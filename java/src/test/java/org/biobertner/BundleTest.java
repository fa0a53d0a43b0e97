package org.biobertner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A malformed or incomplete bundle is a BundleException that names the file and the problem. */
class BundleTest {

    @TempDir
    Path dir;

    static JsonObject validInfo() {
        JsonObject info = new JsonObject();
        info.addProperty("format", "biobert-ner-bundle");
        info.addProperty("format_version", 2);
        info.addProperty("model_name", "test");
        JsonArray inputs = new JsonArray();
        inputs.add("input_ids");
        inputs.add("attention_mask");
        info.add("inputs", inputs);
        info.addProperty("output", "logits");
        info.addProperty("window_length", 64);
        info.addProperty("stride", 16);
        info.addProperty("label_scheme", "IOB2");
        info.addProperty("decoding", "argmax");
        // labels O, B-Gene, I-Gene: I-Gene only after B-Gene or I-Gene, never first (what Python's schemes derive)
        info.add("decoding_tables", com.google.gson.JsonParser.parseString("{\"prefixes\": [\"B\", \"I\"], "
                + "\"starts\": [true, true, false], \"transitions\": [[true, true, false], [true, true, true], [true, true, true]], "
                + "\"ends\": [true, true, true]}"));
        info.addProperty("num_labels", 3);
        JsonObject specials = new JsonObject();
        String[][] tokens = {{"cls", "[CLS]", "2"}, {"sep", "[SEP]", "3"}, {"pad", "[PAD]", "0"}, {"unk", "[UNK]", "1"}};
        for (String[] token : tokens) {
            JsonObject special = new JsonObject();
            special.addProperty("token", token[1]);
            special.addProperty("id", Integer.parseInt(token[2]));
            specials.add(token[0], special);
        }
        info.add("special_tokens", specials);
        JsonObject pretokenizer = new JsonObject();
        pretokenizer.addProperty("name", PreTokenizer.NAME);
        info.add("pretokenizer", pretokenizer);
        return info;
    }

    private void write(String name, String content) throws IOException {
        Files.writeString(dir.resolve(name), content, StandardCharsets.UTF_8);
    }

    private void writeValidBundle(Consumer<JsonObject> edit) throws IOException {
        JsonObject info = validInfo();
        edit.accept(info);
        write("bundle.json", info.toString());
        write("labels.json", "[\"O\", \"B-Gene\", \"I-Gene\"]");
        write("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\"}}");
        write("model.onnx", "not really onnx, but not empty");
    }

    private BundleException assertBad(String file, String problem) {
        BundleException error = assertThrows(BundleException.class, () -> Bundle.load(dir));
        assertEquals(dir.resolve(file), error.file(), error.getMessage());
        assertTrue(error.getMessage().contains(problem), error.getMessage());
        return error;
    }

    @Test
    void validBundleLoads() throws IOException {
        writeValidBundle(info -> {});
        Bundle bundle = Bundle.load(dir);
        assertEquals(List.of("O", "B-Gene", "I-Gene"), bundle.labels());
        assertEquals(64, bundle.windowLength());
        assertEquals(Decoding.Method.ARGMAX, bundle.decoding());
        assertEquals(List.of("B-Gene", "B-Gene", "O"), bundle.tables().repair(List.of("I-Gene", "B-Gene", "O")));
        assertEquals(16, bundle.stride());
        assertEquals(2, bundle.clsId());
        assertEquals(3, bundle.sepId());
        assertEquals(0, bundle.padId());
    }

    @Test
    void notAFolder() {
        BundleException error = assertThrows(BundleException.class, () -> Bundle.load(dir.resolve("nowhere")));
        assertTrue(error.getMessage().contains("not a folder"), error.getMessage());
    }

    @Test
    void missingFiles() throws IOException {
        for (String name : List.of("bundle.json", "labels.json", "tokenizer.json", "model.onnx")) {
            writeValidBundle(info -> {});
            Files.delete(dir.resolve(name));
            assertBad(name, "missing");
        }
    }

    @Test
    void malformedJson() throws IOException {
        writeValidBundle(info -> {});
        write("bundle.json", "{\"format\": \"biobert-ner-bundle\", ");
        assertBad("bundle.json", "not valid JSON");
        writeValidBundle(info -> {});
        write("labels.json", "{\"O\": 0}");
        assertBad("labels.json", "expected a non-empty JSON list");
        writeValidBundle(info -> {});
        write("tokenizer.json", "[1, 2");
        assertBad("tokenizer.json", "not valid JSON");
        writeValidBundle(info -> {});
        write("tokenizer.json", "{\"vocab\": {}}");
        assertBad("tokenizer.json", "no 'model' entry");
    }

    @Test
    void missingOrWrongKeys() throws IOException {
        writeValidBundle(info -> info.remove("window_length"));
        assertBad("bundle.json", "missing key 'window_length'");
        writeValidBundle(info -> info.addProperty("decoding", "crf"));
        assertBad("bundle.json", "decoding must be one of viterbi, argmax, not 'crf'");
        writeValidBundle(info -> info.remove("decoding_tables"));
        assertBad("bundle.json", "missing key 'decoding_tables'");
        writeValidBundle(info -> info.getAsJsonObject("decoding_tables").add("starts", new JsonArray()));
        assertBad("bundle.json", "decoding_tables.starts must be a list of 3 booleans");
        writeValidBundle(info -> info.addProperty("stride", "sixteen"));
        assertBad("bundle.json", "'stride' must be an integer");
        writeValidBundle(info -> info.addProperty("stride", 62));
        assertBad("bundle.json", "0 <= stride < window_length - 2");
        writeValidBundle(info -> info.getAsJsonObject("special_tokens").remove("sep"));
        assertBad("bundle.json", "missing key 'sep'");
        writeValidBundle(info -> info.add("inputs", new JsonArray()));
        assertBad("bundle.json", "must include input_ids");
    }

    @Test
    void formatVersionSchemeAndPreTokenizerAreChecked() throws IOException {
        writeValidBundle(info -> info.addProperty("format", "something-else"));
        assertBad("bundle.json", "format is 'something-else'");
        writeValidBundle(info -> info.addProperty("format_version", 3));
        assertBad("bundle.json", "format_version 3 is not supported");
        writeValidBundle(info -> info.addProperty("format_version", 1));
        assertBad("bundle.json", "format_version 1 is no longer read: it stores neither the decoding nor its tables; "
                + "export the model again (`biobert-ner export --model-dir MODEL -o BUNDLE`)");
        writeValidBundle(info -> info.addProperty("label_scheme", "IOBES"));
        assertBad("bundle.json", "IOB2 only");
        writeValidBundle(info -> info.getAsJsonObject("pretokenizer").addProperty("name", "whitespace"));
        assertBad("bundle.json", "pretokenizer 'whitespace' is not the one implemented here");
    }

    @Test
    void labelsAreChecked() throws IOException {
        writeValidBundle(info -> {});
        write("labels.json", "[\"O\", \"B-Gene\", \"E-Gene\"]");
        assertBad("labels.json", "'E-Gene' is not an IOB2 tag");
        write("labels.json", "[\"O\", \"B-Gene\", \"Gene\"]");
        assertBad("labels.json", "malformed tag 'Gene'");
        write("labels.json", "[\"O\", \"B-Gene\", \"B-Gene\"]");
        assertBad("labels.json", "appears twice");
        write("labels.json", "[\"O\", \"B-Gene\"]");
        assertBad("labels.json", "2 labels, but bundle.json says num_labels=3");
        write("labels.json", "[]");
        assertBad("labels.json", "non-empty");
    }

    @Test
    void emptyModelFile() throws IOException {
        writeValidBundle(info -> {});
        write("model.onnx", "");
        assertBad("model.onnx", "empty file");
    }

    // ------------------------------------------------------------ with a real bundle (skipped without one)

    private void copyGoldenBundle() throws IOException {
        Path source = GoldenBundle.dir();
        for (String name : List.of("bundle.json", "labels.json", "tokenizer.json", "model.onnx")) {
            Files.copy(source.resolve(name), dir.resolve(name));
        }
    }

    @Test
    void labelsThatDoNotMatchTheModel() throws IOException {
        copyGoldenBundle();
        JsonObject info = Bundle.readObject(dir.resolve("bundle.json"));
        JsonArray labels = Bundle.readJson(dir.resolve("labels.json")).getAsJsonArray();
        labels.remove(labels.size() - 1);
        info.addProperty("num_labels", labels.size());
        JsonObject tables = info.getAsJsonObject("decoding_tables"); // consistent with the shorter list: only the model disagrees
        tables.getAsJsonArray("starts").remove(labels.size());
        tables.getAsJsonArray("ends").remove(labels.size());
        JsonArray transitions = tables.getAsJsonArray("transitions");
        transitions.remove(labels.size());
        transitions.forEach(row -> row.getAsJsonArray().remove(labels.size()));
        write("bundle.json", info.toString());
        write("labels.json", labels.toString());
        BundleException error = assertThrows(BundleException.class, () -> NerModel.load(dir));
        assertEquals(dir.resolve("labels.json"), error.file());
        assertTrue(error.getMessage().contains("model.onnx predicts " + (labels.size() + 1)), error.getMessage());
    }

    @Test
    void aBundleSavedWithArgmaxIsServedWithArgmax() throws IOException {
        copyGoldenBundle();
        JsonObject info = Bundle.readObject(dir.resolve("bundle.json"));
        info.addProperty("decoding", "argmax");
        write("bundle.json", info.toString());
        JsonObject golden = GoldenBundle.golden(GoldenBundle.dir());
        int differ = 0;
        try (NerModel model = NerModel.load(dir)) {
            assertEquals(Decoding.Method.ARGMAX, model.bundle().decoding());
            for (JsonObject fixture : GoldenBundle.fixtures(golden)) {
                String text = fixture.get("text").getAsString();
                DocumentEncoding encoding = model.encode(text);
                List<float[][]> logits = GoldenBundle.logits(fixture);
                DecodingTables tables = model.bundle().tables();
                List<Entity> argmax = Decoder.decodeDocument(encoding, logits, tables, Decoding.Method.ARGMAX);
                List<Entity> viterbi = Decoder.decodeDocument(encoding, logits, tables, Decoding.Method.VITERBI);
                List<Entity> served = model.predict(text);
                assertEquals(argmax.size(), served.size(), text);
                for (int i = 0; i < served.size(); i++) {
                    assertEquals(argmax.get(i).start(), served.get(i).start(), text);
                    assertEquals(argmax.get(i).end(), served.get(i).end(), text);
                    assertEquals(argmax.get(i).type(), served.get(i).type(), text);
                }
                differ += argmax.equals(viterbi) ? 0 : 1;
            }
        }
        assertTrue(differ > 0, "no fixture where argmax and Viterbi disagree: the test cannot tell them apart");
    }

    @Test
    void corruptModel() throws IOException {
        copyGoldenBundle();
        write("model.onnx", "this is not a protobuf");
        BundleException error = assertThrows(BundleException.class, () -> NerModel.load(dir));
        assertEquals(dir.resolve("model.onnx"), error.file());
        assertTrue(error.getMessage().contains("ONNX Runtime cannot load it"), error.getMessage());
    }

    @Test
    void closedModelRefusesWork() throws IOException {
        copyGoldenBundle();
        NerModel model = NerModel.load(dir);
        model.close();
        model.close(); // twice is fine
        assertThrows(IllegalStateException.class, () -> model.predict("aspirin"));
    }
}
