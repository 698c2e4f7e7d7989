package dev.livetap.fleet.agent;

import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.cluster.FleetTls;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.Props;

/**
 * A host agent's process: an agent-only cluster member (role {@code agent}, never opens the
 * journal) running one {@link HostAgent} named {@link HostAgent#ACTOR_NAME_PREFIX}{@code HOST}
 * over a {@link VmmDirectoryPort} that adopted the VMMs of {@code vmmDir}; its step ledger is
 * {@code vmmDir/agent.ledger}.
 */
public final class AgentNode implements AutoCloseable {
    public static final String LEDGER = "agent.ledger";
    /** Migrations a {@code livetap agent} runs at once at most. */
    public static final int MIGRATION_THREADS = 8;

    private final FleetNode node;
    private final ExecutorService executor;
    private final VmmDirectoryPort port;

    private AgentNode(FleetNode node, ExecutorService executor, VmmDirectoryPort port) {
        this.node = node;
        this.executor = executor;
        this.port = port;
    }

    /**
     * @param vmmPrefix what new VMM processes start through (e.g. {@code ip netns exec NS}); empty: directly
     * @param budget    the host's freeze budget
     * @param stepTimeout bound of one migration (and of a freeze permit's wait)
     * @param tls         the cluster transport's security (the fleet's own setting)
     * @param managementPort Pekko Management on 127.0.0.1 ({@link FleetConfig#MANAGEMENT_OFF}, any free port with
     *                    {@link FleetConfig#MANAGEMENT_ANY_PORT})
     */
    public static AgentNode start(String host, String bindHost, int port, List<String> seedNodes, Path vmmDir,
            List<String> vmmPrefix, FreezeBudget.Settings budget, Duration stepTimeout, Duration startTimeout, FleetTls tls,
            int managementPort) throws IOException, TimeoutException {
        return start(host, bindHost, port, seedNodes, vmmDir, vmmPrefix, VmmBuilds.own(), budget, stepTimeout, startTimeout, tls,
                managementPort);
    }

    /** {@link #start(String, String, int, List, Path, List, FreezeBudget.Settings, Duration, Duration, FleetTls, int)}
     * with the VMM builds a step may start ({@code livetap agent --vmm-build}). */
    public static AgentNode start(String host, String bindHost, int port, List<String> seedNodes, Path vmmDir,
            List<String> vmmPrefix, VmmBuilds builds, FreezeBudget.Settings budget, Duration stepTimeout, Duration startTimeout,
            FleetTls tls, int managementPort) throws IOException, TimeoutException {
        return start(host, bindHost, port, seedNodes, vmmDir, vmmPrefix, (Supplier<VmmBuilds>) () -> builds, budget, stepTimeout,
                startTimeout, tls, managementPort);
    }

    /** The same with builds that may change while the agent runs ({@code livetap agent --vmm-builds-file}: {@link VmmBuildsFile}). */
    public static AgentNode start(String host, String bindHost, int port, List<String> seedNodes, Path vmmDir,
            List<String> vmmPrefix, Supplier<VmmBuilds> builds, FreezeBudget.Settings budget, Duration stepTimeout,
            Duration startTimeout, FleetTls tls, int managementPort) throws IOException, TimeoutException {
        if (seedNodes.isEmpty()) {
            throw new IllegalArgumentException("an agent joins an existing fleet: give at least one seed node");
        }
        VmmDirectoryPort vmms = VmmDirectoryPort.adopt(vmmDir, vmmPrefix, stepTimeout, builds);
        return start(host, new FleetConfig(bindHost, port, seedNodes, "jdbc:h2:mem:never-opened", List.of(FleetNode.AGENT_ROLE),
                tls, managementPort), vmms, vmms, vmmDir.resolve(LEDGER), budget, stepTimeout, startTimeout, MIGRATION_THREADS);
    }

    /**
     * An agent over any {@link HostAgent.MigrationPort} (the fleet bench's hosts use one whose VMs
     * share a {@code --vms N} process).
     *
     * @param ledgerFile       the agent's step ledger
     * @param migrationThreads migrations the agent runs at once at most (each inside a freeze permit)
     */
    public static AgentNode start(String host, String bindHost, int port, List<String> seedNodes,
            HostAgent.MigrationPort migrations, VmmDirectoryPort directoryPort, Path ledgerFile, FreezeBudget.Settings budget,
            Duration stepTimeout, Duration startTimeout, int migrationThreads, FleetTls tls) throws IOException, TimeoutException {
        if (seedNodes.isEmpty()) {
            throw new IllegalArgumentException("an agent joins an existing fleet: give at least one seed node");
        }
        // the bench's agents: the bench's transport (plain TCP on loopback unless it was given certificates), no Management
        return start(host, new FleetConfig(bindHost, port, seedNodes, "jdbc:h2:mem:never-opened", List.of(FleetNode.AGENT_ROLE),
                tls, FleetConfig.MANAGEMENT_OFF), migrations, directoryPort, ledgerFile, budget, stepTimeout, startTimeout,
                migrationThreads);
    }

    private static AgentNode start(String host, FleetConfig config, HostAgent.MigrationPort migrations,
            VmmDirectoryPort directoryPort, Path ledgerFile, FreezeBudget.Settings budget, Duration stepTimeout,
            Duration startTimeout, int migrationThreads) throws IOException, TimeoutException {
        StepLedger ledger = StepLedger.open(ledgerFile);
        // the journal URL is never opened on a node without the coordinator role
        FleetNode node;
        try {
            node = FleetNode.start(config, startTimeout);
        } catch (TimeoutException | RuntimeException e) {
            ledger.close();
            throw e;
        }
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService executor = Executors.newFixedThreadPool(migrationThreads, r -> {
            Thread t = new Thread(r, "host-agent-migration-" + threadNo.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        node.system().systemActorOf(HostAgent.create(host, ledger, new FreezeBudget(budget), stepTimeout, migrations, executor),
                HostAgent.ACTOR_NAME_PREFIX + host, Props.empty());
        return new AgentNode(node, executor, directoryPort);
    }

    /** The directory port this agent adopted its VMMs with; null for an agent over another port. */
    public VmmDirectoryPort port() {
        return port;
    }

    public FleetNode node() {
        return node;
    }

    @Override
    public void close() {
        try {
            node.close();
        } finally {
            executor.shutdownNow();
            try {
                executor.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
