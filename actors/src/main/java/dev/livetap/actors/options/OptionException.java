package dev.livetap.actors.options;

import java.util.Optional;

/**
 * A rejected option, parameter, URI or configuration, with the text a QMP client sees (QMP
 * error class {@value #ERROR_CLASS}) and an optional hint, as QEMU's {@code error_append_hint}.
 * Where QEMU has a text for the same mistake, the message is QEMU's text verbatim.
 */
public final class OptionException extends RuntimeException {
    /** QMP error class of every option error. */
    public static final String ERROR_CLASS = "GenericError";

    private final String hint;

    public OptionException(String message) {
        this(message, null);
    }

    public OptionException(String message, String hint) {
        super(message, null, false, false);
        this.hint = hint;
    }

    /** Always {@value #ERROR_CLASS}. */
    public String errorClass() {
        return ERROR_CLASS;
    }

    /** Extra advice for a human, never part of the matched message. */
    public Optional<String> hint() {
        return Optional.ofNullable(hint);
    }
}
