package dev.livetap.nativeio;

/**
 * recvmsg reported MSG_CTRUNC: the kernel dropped fds that came with the bytes (the receiver's room
 * was too small, or the process is at its descriptor limit, EMFILE). The bytes of that recvmsg were
 * consumed and are in the caller's buffer (its position advanced); the fds that did arrive were
 * closed. A byte-stream reader (QMP) may go on with the bytes; a frame reader rejects the frame.
 */
public final class FdsTruncatedException extends FramingException {
    private final int bytes;

    public FdsTruncatedException(String message, int bytes) {
        super(message);
        this.bytes = bytes;
    }

    /** The data bytes that recvmsg consumed into the caller's buffer. */
    public int bytes() {
        return bytes;
    }
}
