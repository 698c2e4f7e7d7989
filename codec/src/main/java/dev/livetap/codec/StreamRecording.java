package dev.livetap.codec;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;

/**
 * A recorded stream on disk: the frames' payloads with only the <em>number</em> of fds each
 * carried, since an fd cannot be stored (its slots are marked not transferable). Format: the
 * 8 bytes {@code "LTREC01\n"}, then per frame a big-endian u32 payload length, a u32 fd count,
 * and the payload.
 */
public final class StreamRecording {
    static final byte[] MAGIC = "LTREC01\n".getBytes(StandardCharsets.US_ASCII);
    /** Refuse absurd records before allocating (the framing layer's own limits). */
    static final int MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
    static final int MAX_FDS = 1024;

    /** One recorded frame: its payload and how many fds travelled with it. */
    public record RecordedFrame(byte[] payload, int fdCount) {
        public RecordedFrame {
            payload = payload.clone();
            if (fdCount < 0) {
                throw new IllegalArgumentException("fd count " + fdCount);
            }
        }

        /** A copy of the payload: a recording is never changed through its frames. */
        @Override
        public byte[] payload() {
            return payload.clone();
        }

        /** A frame to feed a decoder, with a stand-in fd from {@code standIn} for each recorded slot. */
        public Frame toFrame(Supplier<OwnedFd> standIn) {
            List<OwnedFd> fds = new ArrayList<>(fdCount);
            for (int i = 0; i < fdCount; i++) {
                fds.add(standIn.get());
            }
            return new Frame(payload, fds); // Frame copies the payload
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof RecordedFrame && ((RecordedFrame) o).fdCount == fdCount
                    && Arrays.equals(((RecordedFrame) o).payload, payload);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(payload) * 31 + fdCount;
        }

        @Override
        public String toString() {
            return "RecordedFrame[" + payload.length + " bytes, " + fdCount + " fds]";
        }
    }

    private StreamRecording() {
    }

    /** The recorded form of a frame (its fds are neither kept nor closed). */
    public static RecordedFrame record(Frame f) {
        return new RecordedFrame(f.payload(), f.fds().size());
    }

    /** Writes {@code frames} to {@code file}, replacing it. */
    public static void write(Path file, List<RecordedFrame> frames) throws IOException {
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file))) {
            write(out, frames);
        }
    }

    public static void write(OutputStream out, List<RecordedFrame> frames) throws IOException {
        DataOutputStream d = new DataOutputStream(out);
        d.write(MAGIC);
        for (RecordedFrame f : frames) {
            d.writeInt(f.payload().length);
            d.writeInt(f.fdCount());
            d.write(f.payload());
        }
        d.flush();
    }

    /** Reads a recording; a bad magic, a record beyond the limits or a torn record is an {@link IOException}. */
    public static List<RecordedFrame> read(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return read(in);
        }
    }

    public static List<RecordedFrame> read(InputStream in) throws IOException {
        DataInputStream d = new DataInputStream(new java.io.BufferedInputStream(in));
        byte[] magic = new byte[MAGIC.length];
        try {
            d.readFully(magic);
        } catch (EOFException e) {
            throw new IOException("not a livetap stream recording: too short", e);
        }
        if (!Arrays.equals(magic, MAGIC)) {
            throw new IOException("not a livetap stream recording: bad magic");
        }
        List<RecordedFrame> frames = new ArrayList<>();
        while (true) {
            int first = d.read();
            if (first < 0) {
                return frames;
            }
            try {
                int len = (first << 24) | (d.readUnsignedByte() << 16) | (d.readUnsignedByte() << 8) | d.readUnsignedByte();
                int fds = d.readInt();
                if (len < 0 || len > MAX_PAYLOAD_BYTES || fds < 0 || fds > MAX_FDS) {
                    throw new IOException("record " + frames.size() + ": " + Integer.toUnsignedString(len)
                            + " bytes with " + Integer.toUnsignedString(fds) + " fds exceeds the limits");
                }
                byte[] payload = new byte[len];
                d.readFully(payload);
                frames.add(new RecordedFrame(payload, fds));
            } catch (EOFException e) {
                throw new IOException("record " + frames.size() + " is torn: the file ends inside it", e);
            }
        }
    }
}
