/**
 * The command line ({@code java -jar biobert-ner-java.jar predict|bench ...}): {@link
 * org.biobertner.cli.Cli} and {@link org.biobertner.cli.Bench}. Only the runnable jar carries this
 * package; the library jar ({@code biobert-ner-java-VERSION.jar}) has {@link org.biobertner} alone.
 */
package org.biobertner.cli;
