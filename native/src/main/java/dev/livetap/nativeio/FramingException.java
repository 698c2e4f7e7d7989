package dev.livetap.nativeio;

/**
 * The framing layer met something it cannot accept: a bad header, an oversize frame, fds
 * truncated by the kernel (MSG_CTRUNC, EMFILE), stray fds, or a peer that closed mid-frame.
 * Whatever fds arrived with the rejected frame are closed before this is raised.
 */
public class FramingException extends RuntimeException {
    public FramingException(String message) {
        super(message);
    }

    public FramingException(String message, Throwable cause) {
        super(message, cause);
    }
}
