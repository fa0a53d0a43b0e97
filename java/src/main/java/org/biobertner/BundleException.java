package org.biobertner;

import java.nio.file.Path;

/** A bundle that cannot be used: the message names the file and what is wrong with it. */
public class BundleException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final transient Path file;

    public BundleException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    public BundleException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /** The file (or folder) the problem is in. */
    public Path file() {
        return file;
    }
}
