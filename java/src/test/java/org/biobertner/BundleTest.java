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
        info.addProperty("format_version", 1);
        info.addProperty("model_name", "test");
        JsonArray inputs = new JsonArray();
        inputs.add("input_ids");
        inputs.add("attention_mask");
        info.add("inputs", inputs);
        info.addProperty("output", "logits");
        info.addProperty("max_length", 64);
        info.addProperty("stride", 16);
        info.addProperty("label_scheme", "IOB2");
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
        assertEquals(64, bundle.maxLength());
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
        writeValidBundle(info -> info.remove("max_length"));
        assertBad("bundle.json", "missing key 'max_length'");
        writeValidBundle(info -> info.addProperty("stride", "sixteen"));
        assertBad("bundle.json", "'stride' must be an integer");
        writeValidBundle(info -> info.addProperty("stride", 62));
        assertBad("bundle.json", "0 <= stride < max_length - 2");
        writeValidBundle(info -> info.getAsJsonObject("special_tokens").remove("sep"));
        assertBad("bundle.json", "missing key 'sep'");
        writeValidBundle(info -> info.add("inputs", new JsonArray()));
        assertBad("bundle.json", "must include input_ids");
    }

    @Test
    void formatVersionSchemeAndPreTokenizerAreChecked() throws IOException {
        writeValidBundle(info -> info.addProperty("format", "something-else"));
        assertBad("bundle.json", "format is 'something-else'");
        writeValidBundle(info -> info.addProperty("format_version", 2));
        assertBad("bundle.json", "format_version 2 is not supported");
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
        write("bundle.json", info.toString());
        write("labels.json", labels.toString());
        BundleException error = assertThrows(BundleException.class, () -> NerModel.load(dir));
        assertEquals(dir.resolve("labels.json"), error.file());
        assertTrue(error.getMessage().contains("model.onnx predicts " + (labels.size() + 1)), error.getMessage());
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
