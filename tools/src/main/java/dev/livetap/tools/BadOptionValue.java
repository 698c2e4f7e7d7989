package dev.livetap.tools;

/**
 * A value on the command line that the command cannot use. {@link LivetapCommand#commandLine()}
 * turns it into exit 2 and one line on stderr (no stack trace), whichever command threw it.
 */
public final class BadOptionValue extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** @param message what is wrong, naming the option (or parameter), the value and what is allowed */
    public BadOptionValue(String message) {
        super(message, null, false, false);
    }

    /** {@code value} if within {@code min..max}, else a BadOptionValue "OPTION must be MIN to MAX, got VALUE". */
    public static int range(String option, int value, int min, int max) {
        if (value < min || value > max) {
            throw new BadOptionValue(option + " must be " + min + " to " + max + ", got " + value);
        }
        return value;
    }

    /** As {@link #range(String, int, int, int)} for a decimal value. */
    public static double range(String option, double value, double min, double max) {
        if (!(value >= min && value <= max)) {
            throw new BadOptionValue(option + " must be " + plain(min) + " to " + plain(max) + ", got " + plain(value));
        }
        return value;
    }

    /** {@code value} if at least {@code min}: "OPTION must be MIN or more, got VALUE". */
    public static int atLeast(String option, int value, int min) {
        if (value < min) {
            throw new BadOptionValue(option + " must be " + min + " or more, got " + value);
        }
        return value;
    }

    /** A file the command reads: it must exist and be readable ("WHAT PATH: no such file"). */
    public static java.nio.file.Path readableFile(String what, java.nio.file.Path file) {
        if (!java.nio.file.Files.exists(file)) {
            throw new BadOptionValue(what + " " + file + ": no such file");
        }
        if (!java.nio.file.Files.isRegularFile(file) || !java.nio.file.Files.isReadable(file)) {
            throw new BadOptionValue(what + " " + file + ": not a readable file");
        }
        return file;
    }

    private static String plain(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
    }
}
