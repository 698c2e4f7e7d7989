package dev.livetap.engine.qmp;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Cuts the QMP input byte stream into JSON texts the way QEMU's JSON streamer does: by bracket
 * nesting, not by lines, so a message may span lines and several may share one line. It tracks
 * strings (double- and single-quoted, with backslash escapes) so that brackets inside strings
 * do not count.
 *
 * <p>Resynchronisation follows the QMP spec: a lexical error (a control character other than
 * tab, CR, LF outside a string; any control character inside a string; or a 0xFE/0xFF byte)
 * discards the message in progress and yields an error piece. A message longer than the limit
 * is not buffered: its bytes are scanned and dropped until its brackets balance, then one error
 * piece is yielded, so memory stays bounded whatever the client sends.
 *
 * <p>The one framing of the package: {@link QmpSession} (server) and {@link QmpConnection}
 * (every client) both cut their input with it.
 */
final class QmpInputSplitter {
    /** One complete JSON text, or an error that replaces it. */
    record Piece(byte[] json, String parseError, boolean startedInThisChunk) {
        boolean isError() {
            return parseError != null;
        }
    }

    private enum Mode { IDLE, NESTED, SCALAR }

    private final int maxMessageBytes;
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    private Mode mode = Mode.IDLE;
    private int depth;
    /** 0 outside strings, else the quote character that opened the string. */
    private byte quote;
    private boolean escaped;
    private int length;
    private boolean oversize;
    /** Whether the message in progress began in the chunk being fed (fds attach to such messages). */
    private boolean currentStartedInChunk;

    QmpInputSplitter(int maxMessageBytes) {
        if (maxMessageBytes < 16) {
            throw new IllegalArgumentException("maxMessageBytes too small: " + maxMessageBytes);
        }
        this.maxMessageBytes = maxMessageBytes;
    }

    /** True when the bytes fed so far end inside a message. */
    boolean inMessage() {
        return mode != Mode.IDLE;
    }

    /** Consumes every remaining byte of {@code chunk}; returns the pieces completed, in order. */
    List<Piece> feed(ByteBuffer chunk) {
        List<Piece> out = new ArrayList<>();
        currentStartedInChunk = false;
        while (chunk.hasRemaining()) {
            byte b = chunk.get();
            int u = b & 0xff;
            if (u == 0xfe || u == 0xff) {
                lexicalError(out, u);
                continue;
            }
            switch (mode) {
                case IDLE -> idle(b, u, out);
                case NESTED -> nested(b, u, out);
                case SCALAR -> scalar(b, u, out);
                default -> throw new IllegalStateException(mode.toString());
            }
        }
        return out;
    }

    private void idle(byte b, int u, List<Piece> out) {
        if (b == ' ' || b == '\t' || b == '\r' || b == '\n') {
            return;
        }
        if (u < 0x20) {
            lexicalError(out, u);
            return;
        }
        begin();
        if (b == '}' || b == ']') {
            emitError(out, "JSON parse error, stray '" + (char) b + "'");
            return;
        }
        append(b);
        if (b == '{' || b == '[') {
            mode = Mode.NESTED;
            depth = 1;
        } else if (b == '"' || b == '\'') {
            mode = Mode.NESTED;
            depth = 0;
            quote = b;
        } else {
            mode = Mode.SCALAR;
        }
    }

    private void nested(byte b, int u, List<Piece> out) {
        if (quote != 0) {
            if (u < 0x20) {
                lexicalError(out, u);
                return;
            }
            append(b);
            if (escaped) {
                escaped = false;
            } else if (b == '\\') {
                escaped = true;
            } else if (b == quote) {
                quote = 0;
                if (depth == 0) {
                    emit(out); // a top-level string
                }
            }
            return;
        }
        if (u < 0x20 && b != '\t' && b != '\r' && b != '\n') {
            lexicalError(out, u);
            return;
        }
        append(b);
        if (b == '"' || b == '\'') {
            quote = b;
        } else if (b == '{' || b == '[') {
            depth++;
        } else if (b == '}' || b == ']') {
            depth--;
            if (depth == 0) {
                emit(out);
            }
        }
    }

    private void scalar(byte b, int u, List<Piece> out) {
        boolean ends = b == ' ' || b == '\t' || b == '\r' || b == '\n'
                || b == '{' || b == '[' || b == '}' || b == ']' || b == '"' || b == '\'' || u < 0x20;
        if (!ends) {
            append(b);
            return;
        }
        emit(out);
        // the delimiter belongs to what follows
        idle(b, u, out);
    }

    private void begin() {
        buffer.reset();
        length = 0;
        oversize = false;
        escaped = false;
        quote = 0;
        depth = 0;
        currentStartedInChunk = true;
    }

    private void append(byte b) {
        length++;
        if (length > maxMessageBytes) {
            if (!oversize) {
                oversize = true;
                buffer.reset();
            }
            return;
        }
        buffer.write(b);
    }

    private void emit(List<Piece> out) {
        if (oversize) {
            emitError(out, "JSON parse error, message longer than " + maxMessageBytes + " bytes");
            return;
        }
        out.add(new Piece(buffer.toByteArray(), null, currentStartedInChunk));
        reset();
    }

    private void emitError(List<Piece> out, String error) {
        out.add(new Piece(null, error, currentStartedInChunk));
        reset();
    }

    private void lexicalError(List<Piece> out, int u) {
        if (mode == Mode.IDLE) {
            begin();
        }
        emitError(out, String.format("JSON parse error, invalid character 0x%02x", u));
    }

    private void reset() {
        mode = Mode.IDLE;
        buffer.reset();
        length = 0;
        oversize = false;
        quote = 0;
        escaped = false;
        depth = 0;
    }
}
