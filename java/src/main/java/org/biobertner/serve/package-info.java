/**
 * The HTTP service ({@code java -jar biobert-ner-java.jar serve --bundle DIR}): {@link
 * org.biobertner.serve.NerService} on the JDK's {@code com.sun.net.httpserver}, with a micro-batcher
 * ({@link org.biobertner.serve.MicroBatcher}) in front of one {@link org.biobertner.NerModel}. Only the
 * runnable jar carries this package; the library jar ({@code biobert-ner-java-VERSION.jar}) has
 * {@link org.biobertner} alone.
 */
package org.biobertner.serve;
