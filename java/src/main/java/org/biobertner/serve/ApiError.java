package org.biobertner.serve;

/** A request that gets an error answer: the HTTP status and a message naming the problem. */
final class ApiError extends Exception {

    private static final long serialVersionUID = 1L;

    final int status;

    ApiError(int status, String message) {
        super(message, null, false, false); // no stack trace: these are answers, not bugs
        this.status = status;
    }
}
