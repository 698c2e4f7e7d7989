package dev.livetap.actors.migration;

import dev.livetap.actors.options.MigrationUri;
import dev.livetap.nativeio.FrameChannel;
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
     * Target side: listen at {@code uri}, accept one connection, stop listening. It binds and
     * listens before it returns: a failure to listen completes the returned stage exceptionally
     * before it returns (the VM answers {@code migrate-incoming} with it).
     */
    CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri);
}
