package dev.livetap.actors.determinism;

import com.typesafe.config.Config;
import java.util.concurrent.ThreadFactory;
import org.apache.pekko.dispatch.DispatcherPrerequisites;
import org.apache.pekko.dispatch.ExecutorServiceConfigurator;
import org.apache.pekko.dispatch.ExecutorServiceFactory;

/** {@code executor = "dev.livetap.actors.determinism.FifoExecutorConfigurator"}: every dispatcher shares {@link FifoExecutor#current}. */
public final class FifoExecutorConfigurator extends ExecutorServiceConfigurator {
    public FifoExecutorConfigurator(Config config, DispatcherPrerequisites prerequisites) {
        super(config, prerequisites);
    }

    @Override
    public ExecutorServiceFactory createExecutorServiceFactory(String id, ThreadFactory threadFactory) {
        FifoExecutor e = FifoExecutor.current;
        if (e == null) {
            throw new IllegalStateException("no FifoExecutor set for dispatcher " + id);
        }
        return () -> e;
    }
}
