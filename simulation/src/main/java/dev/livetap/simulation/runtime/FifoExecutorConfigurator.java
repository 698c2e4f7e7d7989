package dev.livetap.simulation.runtime;

import com.typesafe.config.Config;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;
import org.apache.pekko.dispatch.DispatcherPrerequisites;
import org.apache.pekko.dispatch.ExecutorServiceConfigurator;
import org.apache.pekko.dispatch.ExecutorServiceFactory;

/**
 * {@code executor = "dev.livetap.simulation.runtime.FifoExecutorConfigurator"} plus
 * {@code sim-executor = ID} in a dispatcher's section: the dispatcher runs on the {@link FifoExecutor}
 * registered under ID. Dispatchers are created lazily, so the executor is found by the id in the
 * configuration rather than through a static "current" field; several workers can share a JVM.
 */
public final class FifoExecutorConfigurator extends ExecutorServiceConfigurator {
    static final String KEY = "sim-executor";
    private static final Map<String, FifoExecutor> EXECUTORS = new ConcurrentHashMap<>();
    private final String id;

    public FifoExecutorConfigurator(Config config, DispatcherPrerequisites prerequisites) {
        super(config, prerequisites);
        this.id = config.getString(KEY);
    }

    static void register(String id, FifoExecutor executor) {
        EXECUTORS.put(id, executor);
    }

    static void unregister(String id) {
        EXECUTORS.remove(id);
    }

    @Override
    public ExecutorServiceFactory createExecutorServiceFactory(String dispatcherId, ThreadFactory threadFactory) {
        FifoExecutor e = EXECUTORS.get(id);
        if (e == null) {
            throw new IllegalStateException("no FifoExecutor registered as " + id + " for dispatcher " + dispatcherId);
        }
        return () -> e;
    }
}
