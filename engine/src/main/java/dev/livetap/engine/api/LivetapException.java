package dev.livetap.engine.api;

import java.util.Objects;

/**
 * A VM endpoint refused a command, or did not answer in time: the same error a QMP client would
 * see, with its class ({@code GenericError}, {@code DeviceNotFound}, ...) and description.
 * Stages returned by {@link dev.livetap.engine.api.VirtualMachine} complete exceptionally with this exception.
 */
public final class LivetapException extends RuntimeException {
    /** The error class used when an endpoint did not answer within the engine's ask timeout. */
    public static final String GENERIC = "GenericError";

    private final String errorClass;

    public LivetapException(String errorClass, String desc) {
        super(desc);
        this.errorClass = Objects.requireNonNull(errorClass, "errorClass");
    }

    /** QMP's {@code error.class}. */
    public String errorClass() {
        return errorClass;
    }

    /** QMP's {@code error.desc}. */
    public String desc() {
        return getMessage();
    }

    /**
     * The LivetapException behind a failed stage's throwable ({@code CompletionException} and
     * friends unwrapped), or null if there is none.
     */
    public static LivetapException unwrap(Throwable t) {
        Throwable c = t;
        for (int i = 0; c != null && i < 8; i++) {
            if (c instanceof LivetapException l) {
                return l;
            }
            c = c.getCause();
        }
        return null;
    }

    @Override
    public String toString() {
        return "LivetapException{" + errorClass + ": " + getMessage() + "}";
    }
}
