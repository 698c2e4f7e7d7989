package dev.livetap.engine.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import dev.livetap.engine.internal.EngineSettings;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;

/** Settings from HOCON ({@code livetap.engine}), the builder overriding them, and a handed-in Config or ActorSystem. */
class EngineConfigTest {
    private static final Config HOCON = ConfigFactory.parseString("""
            livetap.engine {
              system-name = from-hocon
              ask-timeout = 7s
              queue-timeout = 3s
              script-timeout = 4s
              migration-peer-uids = [0, 1000]
              migration-timeouts { channel = 11s, return-path = 12s }
            }
            """).withFallback(ConfigFactory.load());

    @Test
    void hoconSettingsOverrideTheDefaultsKeyByKey() {
        EngineSettings s = EngineSettings.fromConfig(HOCON);
        assertEquals("from-hocon", s.systemName());
        assertEquals(Duration.ofSeconds(7), s.askTimeout());
        assertEquals(Duration.ofSeconds(3), s.queueTimeout());
        assertEquals(Duration.ofSeconds(4), s.scriptTimeout());
        assertEquals(Duration.ofSeconds(11), s.timeouts().channel());
        assertEquals(EngineSettings.defaults().timeouts().step(), s.timeouts().step(), "absent keys keep their default");
        assertEquals(Duration.ofSeconds(12), s.timeouts().returnPath());
        assertEquals(java.util.Set.of(0, 1000), s.effectiveMigrationPeers().allowedUids());
        EngineSettings none = EngineSettings.fromConfig(ConfigFactory.empty());
        assertEquals(EngineSettings.defaults().askTimeout(), none.askTimeout(), "no livetap.engine block: the defaults");
        assertEquals(EngineSettings.defaults().timeouts(), none.timeouts(), "no livetap.engine block: the defaults");
    }

    @Test
    void theDocumentedPekkoVersionIsTheOneOnTheClassPath() {
        assertEquals(org.apache.pekko.actor.ActorSystem.Version(), LivetapEngine.PEKKO_VERSION,
                "docs/embedding.md and LivetapEngine.PEKKO_VERSION name the Pekko an embedder must run");
    }

    @Test
    void aMalformedValueFailsNamingTheKey() {
        Config bad = ConfigFactory.parseString("livetap.engine.ask-timeout = soon");
        ConfigException e = assertThrows(ConfigException.class, () -> EngineSettings.fromConfig(bad));
        assertTrue(e.getMessage().contains("ask-timeout"), e.getMessage());
    }

    @Test
    void theBuilderReadsAHandedInConfigAndItsSettersWin() throws Exception {
        try (LivetapEngine engine = LivetapEngine.builder().config(HOCON).askTimeout(Duration.ofSeconds(9)).build()) {
            assertTrue(engine.ownsActorSystem());
            assertEquals("from-hocon", engine.actorSystem().name());
            assertEquals(Duration.ofSeconds(9), engine.askTimeout());
        }
    }

    @Test
    void theBuilderReadsTheHandedInSystemsConfigAndCloseLeavesTheSystemRunning() throws Exception {
        ActorSystem<Void> mine = ActorSystem.create(Behaviors.empty(), "embedder", HOCON);
        try {
            try (LivetapEngine engine = LivetapEngine.builder().actorSystem(mine).build()) {
                assertFalse(engine.ownsActorSystem());
                assertEquals(Duration.ofSeconds(7), engine.askTimeout());
                VirtualMachine vm = engine.createVm(VmSpec.of("in-borrowed"));
                assertEquals(RunState.RUNNING, vm.status().toCompletableFuture().get(10, TimeUnit.SECONDS).runState());
            }
            assertFalse(mine.getWhenTerminated().toCompletableFuture().isDone(), "the embedder's system still runs");
        } finally {
            mine.terminate();
            mine.getWhenTerminated().toCompletableFuture().get(15, TimeUnit.SECONDS);
        }
        ActorSystem<Void> both = ActorSystem.create(Behaviors.empty(), "both");
        try {
            assertThrows(IllegalStateException.class, () -> LivetapEngine.builder().config(HOCON).actorSystem(both).build());
        } finally {
            both.terminate();
        }
    }
}
