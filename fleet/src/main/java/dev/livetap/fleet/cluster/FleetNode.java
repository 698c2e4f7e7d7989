package dev.livetap.fleet.cluster;

import com.typesafe.config.Config;
import dev.livetap.fleet.coordinator.PlanDriver;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.fleet.journal.JournalSchema;
import java.net.URI;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.SingletonActor;
import org.apache.pekko.http.javadsl.ConnectionContext;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.management.javadsl.PekkoManagement;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;

/**
 * One fleet node: an actor system that is a cluster member, the journal's tables created if
 * missing, and a proxy to the {@link UpgradeCoordinator} singleton (which runs on the oldest node
 * with role {@code coordinator}). Only nodes with that role open the journal: an agent-only node
 * ({@code agent}) or an operator's short-lived member ({@code operator}) never touches the database.
 * With a Management port configured the node serves Pekko Management's read-only routes on 127.0.0.1
 * ({@code GET /cluster/members}, {@code /ready}, {@code /alive}): over HTTPS with client certificates, beside the
 * operator's routes ({@link OperatorRoutes}), when the transport uses TLS; plain HTTP without it.
 */
public final class FleetNode implements AutoCloseable {
    /** Nodes with this role may run the coordinator singleton (and so open the journal). */
    public static final String COORDINATOR_ROLE = "coordinator";
    /** A host agent's node. */
    public static final String AGENT_ROLE = "agent";
    /** A short-lived member that only talks to the coordinator ({@code livetap fleet start|status}). */
    public static final String OPERATOR_ROLE = "operator";
    private final ActorSystem<Void> system;
    private final ActorRef<UpgradeCoordinator.Command> coordinator;
    private final Optional<URI> management;

    private FleetNode(ActorSystem<Void> system, ActorRef<UpgradeCoordinator.Command> coordinator, Optional<URI> management) {
        this.system = system;
        this.coordinator = coordinator;
        this.management = management;
    }

    /**
     * Starts the node, joins the cluster (itself when {@code config} names no seed node), waits
     * until it is {@code Up} and the journal's tables exist; both waits bounded by {@code timeout}.
     */
    public static FleetNode start(FleetConfig config, Duration timeout) throws TimeoutException {
        return start(config, null, timeout);
    }

    /**
     * As {@link #start(FleetConfig, Duration)}, with {@code overrides} (may be null) over the node's Pekko
     * configuration: for tests that shorten the failure detector or the Split Brain Resolver's stable-after.
     */
    public static FleetNode start(FleetConfig config, Config overrides, Duration timeout) throws TimeoutException {
        return start(config, overrides, PlanDriver.Settings.DEFAULT, timeout);
    }

    /** {@link #start(FleetConfig, Config, Duration)} with the coordinator's driver settings (the journal bench varies them). */
    public static FleetNode start(FleetConfig config, Config overrides, PlanDriver.Settings driver,
            Duration timeout) throws TimeoutException {
        Config pekko = overrides == null ? config.toConfig() : overrides.withFallback(config.toConfig());
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), FleetConfig.SYSTEM_NAME, pekko);
        try {
            Cluster cluster = Cluster.get(system);
            if (config.seedNodes().isEmpty()) {
                cluster.manager().tell(Join.create(cluster.selfMember().address()));
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            Optional<URI> management = Optional.empty();
            AtomicReference<ActorRef<UpgradeCoordinator.Command>> joined =
                    new AtomicReference<>();
            if (config.managementPort() != FleetConfig.MANAGEMENT_OFF) {
                // before the join completes: the endpoint also answers for a node that cannot become Up
                management = Optional.of(config.tls() instanceof FleetTls.Stores
                        ? startHttps(system, config.managementPort(), () -> Optional.ofNullable(joined.get()), timeout)
                        : URI.create(PekkoManagement.get(system).start().toCompletableFuture()
                                .get(timeout.toMillis(), TimeUnit.MILLISECONDS).toString()));
            }
            while (cluster.selfMember().status() != MemberStatus.up()) {
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException("the node did not become Up within " + timeout.toMillis() + " ms (status "
                            + cluster.selfMember().status() + ")");
                }
                Thread.sleep(20);
            }
            if (config.roles().contains(COORDINATOR_ROLE)) {
                // a node without the role never runs the singleton and never opens the database (H2 in a file has one owner)
                createJournalTables(system, config, timeout);
            }
            ActorRef<UpgradeCoordinator.Command> proxy = ClusterSingleton.get(system).init(
                    SingletonActor.of(UpgradeCoordinator.create(driver), UpgradeCoordinator.SINGLETON_NAME)
                            .withStopMessage(UpgradeCoordinator.Passivate.INSTANCE)
                            .withSettings(ClusterSingletonSettings.create(system).withRole(COORDINATOR_ROLE)));
            joined.set(proxy);
            return new FleetNode(system, proxy, management);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close(system, timeout);
            throw new TimeoutException("interrupted while starting the fleet node");
        } catch (ExecutionException e) {
            close(system, timeout);
            throw new IllegalStateException("the journal's tables could not be created or the Management endpoint could not "
                    + "start: " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException | RuntimeException e) {
            close(system, timeout);
            throw e;
        }
    }

    /**
     * Pekko Management's routes and the operator's ({@link OperatorRoutes}) over HTTPS on 127.0.0.1: the node's
     * rotating TLS context, a client certificate of the fleet's CA required on every connection.
     */
    private static URI startHttps(ActorSystem<Void> system, int port,
            Supplier<Optional<ActorRef<UpgradeCoordinator.Command>>> coordinator, Duration timeout)
            throws TimeoutException, InterruptedException, ExecutionException {
        RotatingTlsContext tls = FleetSslEngineProvider.forSystem(Adapter.toClassic(system));
        Route management = PekkoManagement.get(system).getRoutes(s -> s.withReadOnly(true));
        ServerBinding binding = Http.get(system)
                .newServerAt(FleetConfig.MANAGEMENT_HOST, port)
                .enableHttps(ConnectionContext.httpsServer(tls::serverEngine))
                .bind(new OperatorRoutes(system, coordinator, OperatorRoutes.ASK_TIMEOUT).routes(management))
                .toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        return URI.create("https://" + FleetConfig.MANAGEMENT_HOST + ":" + binding.localAddress().getPort());
    }

    /**
     * The journal's tables if missing: for H2 pekko-persistence-jdbc's own DDL for the profile; for
     * PostgreSQL livetap's {@link JournalSchema} (its own DDL, idempotent, one transaction).
     */
    private static void createJournalTables(ActorSystem<Void> system, FleetConfig config, Duration timeout)
            throws TimeoutException, InterruptedException, ExecutionException {
        if (FleetConfig.isPostgres(config.journalUrl())) {
            try {
                JournalSchema.createPostgres(config.journalUrl(), config.journalCredentials());
            } catch (SQLException e) {
                throw new ExecutionException(e);
            }
        } else {
            SchemaUtils.createIfNotExists(system).toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    public ActorSystem<Void> system() {
        return system;
    }

    /**
     * Pekko Management's base URI on 127.0.0.1 ({@code GET <uri>/cluster/members}); empty when the node was
     * configured without a Management port.
     */
    public Optional<URI> management() {
        return management;
    }

    /** The singleton proxy: messages reach the one coordinator wherever it runs. */
    public ActorRef<UpgradeCoordinator.Command> coordinator() {
        return coordinator;
    }

    @Override
    public void close() {
        close(system, Duration.ofSeconds(30));
    }

    private static void close(ActorSystem<Void> system, Duration timeout) {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("the fleet node did not terminate within " + timeout.toMillis() + " ms", e);
        }
    }
}
