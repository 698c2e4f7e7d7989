package dev.livetap.actors.testing;

import dev.livetap.actors.migration.MigrationTransport;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.nativeio.ChannelLimits;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.UnixFrameChannel;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Reactor;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.UnaryOperator;

/**
 * What the engine supplies, for tests: AF_UNIX path sockets through {@code Os.unix()} and the
 * framing layer, accept driven by the process's reactor. {@link #listening()} completes when the
 * target listens; {@code wrapAccepted} lets a test interpose on the target's channel.
 */
public final class PathTransport implements MigrationTransport {
    private final Os os;
    private final CompletableFuture<Void> listening = new CompletableFuture<>();
    private volatile UnaryOperator<FrameChannel> wrapAccepted = UnaryOperator.identity();
    private volatile java.util.function.Consumer<OwnedFd> onAcceptedSocket = s -> { };

    public PathTransport(Os os) {
        this.os = os;
    }

    public CompletableFuture<Void> listening() {
        return listening;
    }

    /** {@code hook} sees the accepted socket before the channel wraps it (e.g. to inject a kernel fault on it). */
    public PathTransport onAcceptedSocket(java.util.function.Consumer<OwnedFd> hook) {
        this.onAcceptedSocket = hook;
        return this;
    }

    public PathTransport wrapAccepted(UnaryOperator<FrameChannel> wrap) {
        this.wrapAccepted = wrap;
        return this;
    }

    @Override
    public CompletionStage<FrameChannel> connect(MigrationUri.Unix uri) {
        CompletableFuture<FrameChannel> f = new CompletableFuture<>();
        try {
            OwnedFd s = os.unix().connect(Path.of(uri.path()));
            f.complete(UnixFrameChannel.open(os, s, ChannelLimits.DEFAULT));
        } catch (RuntimeException e) {
            f.completeExceptionally(e);
        }
        return f;
    }

    @Override
    public CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri) {
        CompletableFuture<FrameChannel> f = new CompletableFuture<>();
        Path path = Path.of(uri.path());
        OwnedFd listener;
        try {
            listener = os.unix().listen(path, 0600);
        } catch (RuntimeException e) {
            f.completeExceptionally(e);
            return f;
        }
        Reactor.Registration[] reg = new Reactor.Registration[1];
        reg[0] = os.reactor().register(listener, Reactor.READ, ready -> {
            OwnedFd s = os.unix().accept(listener);
            if (s == null || f.isDone()) {
                return;
            }
            reg[0].cancel();
            listener.close();
            os.unix().unlinkSocket(path);
            onAcceptedSocket.accept(s);
            f.complete(wrapAccepted.apply(UnixFrameChannel.open(os, s, ChannelLimits.DEFAULT)));
        });
        listening.complete(null);
        return f;
    }
}
