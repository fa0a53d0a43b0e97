package org.biobertner;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link NerModel#predictEncoded} (the HTTP service's batched path) finds what {@link NerModel#predictBatch} finds. */
class PredictEncodedTest {

    @Test
    void encodedElsewhereThenPredictedTogetherEqualsPredictBatch() {
        Path dir = GoldenBundle.dir();
        List<String> texts = new ArrayList<>();
        for (JsonObject fixture : GoldenBundle.fixtures(GoldenBundle.golden(dir))) {
            texts.add(fixture.get("text").getAsString());
        }
        try (NerModel model = NerModel.load(dir, new NerModel.Options(1, 4))) {
            List<DocumentEncoding> encodings = new ArrayList<>();
            for (String text : texts) {
                encodings.add(model.encode(text)); // one by one, as the service's request threads do
            }
            List<List<Entity>> batched = model.predictEncoded(encodings);
            assertEquals(model.predictBatch(texts), batched);
            assertEquals(texts.size(), batched.size());
            assertEquals(true, batched.stream().mapToInt(List::size).sum() > 0, "the golden texts have entities");
        }
    }
}
