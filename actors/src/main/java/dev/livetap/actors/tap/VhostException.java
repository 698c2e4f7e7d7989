package dev.livetap.actors.tap;

/** vhost-net could not be opened or set up; the message is the reason, without a prefix. */
public final class VhostException extends RuntimeException {
    public VhostException(String reason) {
        super(reason);
    }

    public VhostException(String reason, Throwable cause) {
        super(reason, cause);
    }
}
