package org.biobertner;

/** An entity over words {@code [start, end)}. */
public record Span(int start, int end, String type) {}
