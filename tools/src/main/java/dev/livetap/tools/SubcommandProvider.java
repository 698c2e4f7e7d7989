package dev.livetap.tools;

/**
 * The SPI through which modules add subcommands to {@code livetap} (listed in
 * {@code META-INF/services/dev.livetap.tools.SubcommandProvider}). The engine does not
 * depend on the modules that provide them, e.g. {@code simulation}'s {@code simulate}.
 */
public interface SubcommandProvider {
    /** The subcommand's name as typed on the command line. */
    String name();

    /** A fresh picocli command object (annotated with {@code @Command}). */
    Object command();
}
