package dev.livetap.actors.migration;

import dev.livetap.actors.options.MigrationUri;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.OwnedFd;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * How a coordinator gets its channel: actors open no sockets themselves. The engine supplies the
 * real one (path sockets through {@code Os.unix()} and {@code UnixFrameChannel}); tests and the
 * simulation supply socket pairs. Each stage must complete (or fail) without blocking a thread;
 * the coordinator times out on its own.
 */
public interface MigrationTransport {
    /** Source side: a channel connected to the target listening at {@code uri}. */
    CompletionStage<FrameChannel> connect(MigrationUri.Unix uri);

    /**
     * Source side: a channel over {@code socket}, an already connected AF_UNIX stream socket (an
     * {@code fd:} URI, libvirt's form); the socket is the channel's from this call on (closed on failure).
     */
    default CompletionStage<FrameChannel> adopt(OwnedFd socket) {
        socket.close();
        return CompletableFuture.failedFuture(new UnsupportedOperationException("this migration transport takes no"
                + " passed sockets (fd: URIs)"));
    }

    /**
     * Target side: listen at {@code uri}, accept one connection, stop listening. It binds and
     * listens before it returns: a failure to listen completes the returned stage exceptionally
     * before it returns (the VM answers {@code migrate-incoming} with it).
     */
    CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri);
}
