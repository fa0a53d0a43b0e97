package org.biobertner.serve;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The body of {@code POST /v1/entities}, read and checked: {@code {"texts": [...]}} or
 * {@code {"text": "..."}}. Every way it can be wrong is an {@link ApiError} naming the problem.
 *
 * @param texts the texts, in order
 * @param single whether the body had one {@code "text"} (answered with one JSON object, not a list)
 */
record EntitiesRequest(List<String> texts, boolean single) {

    private static final Gson GSON = new Gson();

    /** Parse {@code body} (at most {@code maxBodyBytes}, checked by the caller) under the service's limits. */
    static EntitiesRequest parse(byte[] body, int maxTexts, int maxChars) throws ApiError {
        if (body.length == 0) {
            throw new ApiError(400, "empty body: send {\"texts\": [...]} or {\"text\": \"...\"}");
        }
        JsonElement root = parseJson(decodeUtf8(body));
        if (!root.isJsonObject()) {
            throw new ApiError(400, "the body must be a JSON object, got " + kind(root));
        }
        JsonObject object = root.getAsJsonObject();
        for (String key : object.keySet()) {
            if (!key.equals("texts") && !key.equals("text")) {
                throw new ApiError(400, "unknown field \"" + key + "\" (expected \"texts\" or \"text\")");
            }
        }
        if (object.has("texts") == object.has("text")) {
            throw new ApiError(400, "send exactly one of \"texts\" (a list of strings) and \"text\" (a string)");
        }
        List<String> texts = new ArrayList<>();
        if (object.has("text")) {
            texts.add(string(object.get("text"), "\"text\"", maxChars));
            return new EntitiesRequest(texts, true);
        }
        JsonElement list = object.get("texts");
        if (!list.isJsonArray()) {
            throw new ApiError(400, "\"texts\" must be a list of strings, got " + kind(list));
        }
        if (list.getAsJsonArray().isEmpty()) {
            throw new ApiError(400, "\"texts\" is empty: nothing to predict");
        }
        if (list.getAsJsonArray().size() > maxTexts) {
            throw new ApiError(413, list.getAsJsonArray().size() + " texts in one request, the limit is " + maxTexts);
        }
        int index = 0;
        for (JsonElement text : list.getAsJsonArray()) {
            texts.add(string(text, "\"texts\"[" + index++ + "]", maxChars));
        }
        return new EntitiesRequest(texts, false);
    }

    private static String decodeUtf8(byte[] body) throws ApiError {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(body);
        try {
            CharBuffer chars = decoder.decode(in);
            return chars.toString();
        } catch (CharacterCodingException error) {
            throw new ApiError(400, "the body is not valid UTF-8 (bad byte at offset " + in.position() + ")");
        }
    }

    /** Strict JSON (RFC 8259): no comments, no single quotes, no trailing data. */
    private static JsonElement parseJson(String body) throws ApiError {
        JsonReader reader = new JsonReader(new StringReader(body));
        reader.setStrictness(Strictness.STRICT);
        try {
            JsonElement root = GSON.getAdapter(JsonElement.class).read(reader);
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                throw new ApiError(400, "malformed JSON: data after the end of the object");
            }
            return root;
        } catch (IOException | JsonParseException | IllegalStateException error) {
            throw new ApiError(400, "malformed JSON: " + error.getMessage());
        }
    }

    private static String string(JsonElement value, String where, int maxChars) throws ApiError {
        if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()) {
            throw new ApiError(400, where + " must be a string, got " + kind(value));
        }
        String text = value.getAsString();
        int chars = text.codePointCount(0, text.length());
        if (chars > maxChars) {
            throw new ApiError(413, where + " has " + chars + " characters, the limit is " + maxChars);
        }
        return text;
    }

    private static String kind(JsonElement value) {
        if (value.isJsonNull()) {
            return "null";
        }
        if (value.isJsonArray()) {
            return "a list";
        }
        if (value.isJsonObject()) {
            return "an object";
        }
        if (value.getAsJsonPrimitive().isString()) {
            return "a string";
        }
        return value.getAsJsonPrimitive().isNumber() ? "a number" : "a boolean";
    }
}
