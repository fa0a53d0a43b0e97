package org.biobertner;

/** Tokens {@code [start, end)} of a document's sub-word sequence (special tokens not counted). */
public record Window(int start, int end) {
    public int size() {
        return end - start;
    }
}
