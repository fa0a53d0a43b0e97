package org.biobertner;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * A bundle written by {@code biobert_ner.export.export_bundle}, read and checked before any native
 * code runs: {@code bundle.json}, {@code labels.json}, {@code tokenizer.json}, {@code model.onnx}
 * ({@code golden.json} is only for tests). Every problem is a {@link BundleException} naming the
 * file and what is wrong, never a {@code NullPointerException} later.
 *
 * @param dir the bundle's folder
 * @param modelName {@code model_name} from {@code bundle.json}, else the folder's name
 * @param labels label names in label-id order
 * @param windowLength tokens per window, {@code [CLS]} and {@code [SEP]} included
 * @param stride tokens shared by consecutive windows of a long document
 * @param decoding how word tags are read, as the model was scored ({@code decoding})
 * @param tables the label scheme's allowed starts, transitions and ends ({@code decoding_tables})
 * @param clsId id of {@code [CLS]}
 * @param sepId id of {@code [SEP]}
 * @param padId id of {@code [PAD]}
 * @param output the model's output name ({@code logits})
 */
public record Bundle(
        Path dir, String modelName, List<String> labels, int windowLength, int stride, Decoding.Method decoding,
        DecodingTables tables, int clsId, int sepId, int padId, String output) {

    /** The bundle format this code reads (2: {@code window_length}, {@code decoding} and {@code decoding_tables}). */
    public static final int FORMAT_VERSION = 2;

    public static final String FORMAT = "biobert-ner-bundle";
    public static final String BUNDLE_JSON = "bundle.json";
    public static final String LABELS_JSON = "labels.json";
    public static final String TOKENIZER_JSON = "tokenizer.json";
    public static final String MODEL_ONNX = "model.onnx";
    public static final String GOLDEN_JSON = "golden.json";

    /** Model inputs this code knows how to fill ({@code token_type_ids} is all zeros: one sentence). */
    public static final List<String> KNOWN_INPUTS = List.of("input_ids", "attention_mask", "token_type_ids");

    public Bundle {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(modelName, "modelName");
        labels = List.copyOf(labels);
        Objects.requireNonNull(decoding, "decoding");
        Objects.requireNonNull(tables, "tables");
        Objects.requireNonNull(output, "output");
    }

    /** Read and check the bundle in {@code dir}. */
    public static Bundle load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new BundleException(dir, "not a folder (a bundle is a folder written by `biobert-ner export`)");
        }
        for (String name : List.of(BUNDLE_JSON, LABELS_JSON, TOKENIZER_JSON, MODEL_ONNX)) {
            Path file = dir.resolve(name);
            if (!Files.isRegularFile(file)) {
                throw new BundleException(file, "missing: a bundle has " + BUNDLE_JSON + ", " + LABELS_JSON + ", "
                        + TOKENIZER_JSON + " and " + MODEL_ONNX + " (export it again with `biobert-ner export`)");
            }
        }
        Path bundleJson = dir.resolve(BUNDLE_JSON);
        JsonObject info = readObject(bundleJson);
        String format = stringField(bundleJson, info, "format");
        if (!FORMAT.equals(format)) {
            throw new BundleException(bundleJson, "format is '" + format + "', expected '" + FORMAT + "'");
        }
        int version = intField(bundleJson, info, "format_version");
        if (version < FORMAT_VERSION) {
            throw new BundleException(bundleJson, "format_version " + version + " is no longer read: it stores neither the "
                    + "decoding nor its tables; export the model again (`biobert-ner export --model-dir MODEL -o BUNDLE`)");
        }
        if (version > FORMAT_VERSION) {
            throw new BundleException(bundleJson, "format_version " + version + " is not supported (this code reads "
                    + FORMAT_VERSION + "); use a biobert-ner-java that matches the exporter");
        }
        String scheme = stringField(bundleJson, info, "label_scheme");
        if (!"IOB2".equals(scheme)) {
            throw new BundleException(bundleJson, "label_scheme is '" + scheme + "'; this code decodes IOB2 only");
        }
        String pretokenizer = stringField(bundleJson, objectField(bundleJson, info, "pretokenizer"), "name");
        if (!PreTokenizer.NAME.equals(pretokenizer)) {
            throw new BundleException(bundleJson, "pretokenizer '" + pretokenizer + "' is not the one implemented here ("
                    + PreTokenizer.NAME + "): words would be split differently from training");
        }

        Path labelsJson = dir.resolve(LABELS_JSON);
        List<String> prefixes = stringList(bundleJson, objectField(bundleJson, info, "decoding_tables"), "prefixes");
        List<String> labels = DecodingTables.checkLabels(labelsJson, readLabels(labelsJson), prefixes, scheme);
        if (info.has("num_labels") && intField(bundleJson, info, "num_labels") != labels.size()) {
            throw new BundleException(labelsJson, labels.size() + " labels, but " + BUNDLE_JSON + " says num_labels="
                    + intField(bundleJson, info, "num_labels"));
        }

        int windowLength = intField(bundleJson, info, "window_length");
        int stride = intField(bundleJson, info, "stride");
        Decoding.Method decoding;
        try {
            decoding = Decoding.Method.parse(stringField(bundleJson, info, "decoding"));
        } catch (IllegalArgumentException error) {
            throw new BundleException(bundleJson, error.getMessage(), error);
        }
        DecodingTables tables = DecodingTables.read(bundleJson, info, labels);
        JsonObject specials = objectField(bundleJson, info, "special_tokens");
        int clsId = intField(bundleJson, objectField(bundleJson, specials, "cls"), "id");
        int sepId = intField(bundleJson, objectField(bundleJson, specials, "sep"), "id");
        int padId = intField(bundleJson, objectField(bundleJson, specials, "pad"), "id");
        List<String> inputs = stringList(bundleJson, info, "inputs");
        String output = stringField(bundleJson, info, "output");
        if (windowLength < 3 || stride < 0 || stride >= windowLength - 2) {
            throw new BundleException(bundleJson, "need window_length >= 3 and 0 <= stride < window_length - 2, got window_length="
                    + windowLength + ", stride=" + stride);
        }
        if (!inputs.contains("input_ids") || !KNOWN_INPUTS.containsAll(inputs)) {
            throw new BundleException(bundleJson, "inputs " + inputs + " must include input_ids and be among " + KNOWN_INPUTS);
        }
        JsonObject tokenizer = readObject(dir.resolve(TOKENIZER_JSON));
        if (!tokenizer.has("model")) {
            throw new BundleException(dir.resolve(TOKENIZER_JSON), "no 'model' entry: not a Hugging Face tokenizer.json");
        }
        try {
            if (Files.size(dir.resolve(MODEL_ONNX)) == 0) {
                throw new BundleException(dir.resolve(MODEL_ONNX), "empty file");
            }
        } catch (IOException error) {
            throw new BundleException(dir.resolve(MODEL_ONNX), "cannot be read: " + error.getMessage(), error);
        }
        String modelName = info.has("model_name") && !info.get("model_name").isJsonNull()
                ? stringField(bundleJson, info, "model_name")
                : String.valueOf(dir.getFileName());
        return new Bundle(dir, modelName, labels, windowLength, stride, decoding, tables, clsId, sepId, padId, output);
    }

    public Path modelPath() {
        return dir.resolve(MODEL_ONNX);
    }

    public Path tokenizerPath() {
        return dir.resolve(TOKENIZER_JSON);
    }

    @Override
    public String toString() {
        return "Bundle(" + dir + ", model=" + modelName + ", labels=" + labels + ", window_length=" + windowLength
                + ", stride=" + stride + ", decoding=" + decoding.value() + ")";
    }

    // ------------------------------------------------------------ JSON helpers with errors that name the file

    static JsonElement readJson(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException error) {
            throw new BundleException(file, "cannot be read: " + error.getMessage(), error);
        }
        try {
            return JsonParser.parseString(text);
        } catch (JsonParseException error) {
            throw new BundleException(file, "not valid JSON: " + rootMessage(error), error);
        }
    }

    static JsonObject readObject(Path file) {
        JsonElement element = readJson(file);
        if (!element.isJsonObject()) {
            throw new BundleException(file, "expected a JSON object, found " + describe(element));
        }
        return element.getAsJsonObject();
    }

    /** {@code labels.json}: a non-empty list of distinct strings (their prefixes are checked against the tables). */
    private static List<String> readLabels(Path file) {
        JsonElement element = readJson(file);
        if (!element.isJsonArray() || element.getAsJsonArray().isEmpty()) {
            throw new BundleException(file, "expected a non-empty JSON list of label names, found " + describe(element));
        }
        List<String> labels = new ArrayList<>();
        for (JsonElement label : element.getAsJsonArray()) {
            if (!label.isJsonPrimitive() || !label.getAsJsonPrimitive().isString()) {
                throw new BundleException(file, "label " + label + " is not a string");
            }
            String name = label.getAsString();
            if (labels.contains(name)) {
                throw new BundleException(file, "label '" + name + "' appears twice");
            }
            labels.add(name);
        }
        return Collections.unmodifiableList(labels);
    }

    private static JsonElement field(Path file, JsonObject object, String key) {
        JsonElement value = object.get(key);
        if (value == null || value.isJsonNull()) {
            throw new BundleException(file, "missing key '" + key + "'");
        }
        return value;
    }

    static int intField(Path file, JsonObject object, String key) {
        JsonElement value = field(file, object, key);
        if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber()) {
            double number = value.getAsDouble();
            if (number == Math.rint(number) && Math.abs(number) <= Integer.MAX_VALUE) {
                return (int) number;
            }
        }
        throw new BundleException(file, "'" + key + "' must be an integer, found " + describe(value));
    }

    static String stringField(Path file, JsonObject object, String key) {
        JsonElement value = field(file, object, key);
        if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isString()) {
            return value.getAsString();
        }
        throw new BundleException(file, "'" + key + "' must be a string, found " + describe(value));
    }

    static JsonObject objectField(Path file, JsonObject object, String key) {
        JsonElement value = field(file, object, key);
        if (value.isJsonObject()) {
            return value.getAsJsonObject();
        }
        throw new BundleException(file, "'" + key + "' must be an object, found " + describe(value));
    }

    static List<String> stringList(Path file, JsonObject object, String key) {
        JsonElement value = field(file, object, key);
        if (value.isJsonArray()) {
            JsonArray array = value.getAsJsonArray();
            List<String> strings = new ArrayList<>();
            for (JsonElement item : array) {
                if (!item.isJsonPrimitive() || !item.getAsJsonPrimitive().isString()) {
                    throw new BundleException(file, "'" + key + "' must be a list of strings, found " + describe(value));
                }
                strings.add(item.getAsString());
            }
            return Collections.unmodifiableList(strings);
        }
        throw new BundleException(file, "'" + key + "' must be a list of strings, found " + describe(value));
    }

    private static String describe(JsonElement element) {
        String text = element.toString();
        return text.length() > 60 ? text.substring(0, 57) + "..." : text;
    }

    private static String rootMessage(Throwable error) {
        Throwable root = error;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        return root.getMessage();
    }
}
