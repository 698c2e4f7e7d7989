package dev.livetap.engine.internal;

import dev.livetap.engine.api.VmSpec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import dev.livetap.codec.pekko.MigrationStreamFlows;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.io.ByteArrayInputStream;
import java.net.URL;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.StreamConverters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The engine is a guest in someone else's JVM (issue 16, item 1): an embedder's ActorSystem started
 * beside a warmed-up engine keeps Pekko's own dispatcher defaults, and its streams and blocking
 * I/O run on its own threads, while livetap's migration stream runs on livetap's.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class EmbedderActorSystemTest {
    private static final List<String> PEKKO_DEFAULTS = List.of("pekko.stream.materializer.dispatcher",
            "pekko.stream.materializer.blocking-io-dispatcher", "pekko.actor.default-dispatcher",
            "pekko.actor.default-blocking-io-dispatcher", "pekko.actor.internal-dispatcher");

    @Test
    void livetapsReferenceConfSetsNoPekkoKey() throws Exception {
        List<URL> livetaps = new ArrayList<>();
        for (URL u : Collections.list(getClass().getClassLoader().getResources("reference.conf"))) {
            Config c = ConfigFactory.parseURL(u, ConfigParseOptions.defaults());
            if (c.hasPath("livetap")) {
                livetaps.add(u);
                assertFalse(c.hasPath("pekko"), "livetap's reference.conf must not change a pekko.* default: " + u
                        + " sets " + (c.hasPath("pekko") ? c.getConfig("pekko").root().render() : ""));
            }
        }
        assertFalse(livetaps.isEmpty(), "livetap's reference.conf (livetap.dispatchers) is on the class path");
    }

    @Test
    void anEmbeddersActorSystemBesideTheEngineKeepsItsDispatchers() throws Exception {
        Config pekkoOnly = ConfigFactory.empty(); // every reference.conf on the class path except livetap's
        for (URL u : Collections.list(getClass().getClassLoader().getResources("reference.conf"))) {
            Config c = ConfigFactory.parseURL(u, ConfigParseOptions.defaults());
            pekkoOnly = c.hasPath("livetap") ? pekkoOnly : pekkoOnly.withFallback(c);
        }
        pekkoOnly = pekkoOnly.resolve();
        InMemoryKernel kernel = new InMemoryKernel();
        InMemoryOs os = kernel.newProcess("vmm");
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os);
                EngineCore engine = EngineCore.create(EngineSettings.defaults().withOs(os).withSystemName("engine"))) {
            engine.warmUp(); // an in-memory migration: livetap's actors and migration stream have run
            ActorSystem<Void> embedder = ActorSystem.create(Behaviors.empty(), "embedder");
            try {
                Config seen = embedder.settings().config();
                for (String key : PEKKO_DEFAULTS) {
                    assertEquals(pekkoOnly.getValue(key).render(ConfigRenderOptions.concise()), seen.getValue(key).render(ConfigRenderOptions.concise()),
                            key + " is Pekko's own default in the embedder's system");
                }
                String streamThread = Source.single(1).map(i -> Thread.currentThread().getName())
                        .runWith(Sink.head(), embedder).toCompletableFuture().get(10, TimeUnit.SECONDS);
                assertTrue(streamThread.startsWith("embedder-pekko.actor.default-dispatcher-"),
                        "the embedder's stream runs on its default dispatcher, not livetap's: " + streamThread);
                String ioThread = StreamConverters.fromInputStream(() -> new ByteArrayInputStream(new byte[] {1}))
                        .map(b -> Thread.currentThread().getName())
                        .runWith(Sink.head(), embedder).toCompletableFuture().get(10, TimeUnit.SECONDS);
                assertFalse(ioThread.contains("livetap"), "the embedder's blocking I/O is not on a livetap pool: " + ioThread);

                String livetapThread = MigrationStreamFlows.onStreamDispatcher(Source.single(1)
                                .map(i -> Thread.currentThread().getName()).toMat(Sink.head(), Keep.right()))
                        .run(engine.system()).toCompletableFuture().get(10, TimeUnit.SECONDS);
                assertTrue(livetapThread.startsWith("engine-" + MigrationStreamFlows.STREAM_DISPATCHER + "-"),
                        "a migration stream runs on livetap's stream dispatcher: " + livetapThread);
            } finally {
                embedder.terminate();
                embedder.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
            }
        }
    }
}
