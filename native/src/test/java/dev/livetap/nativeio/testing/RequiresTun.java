package dev.livetap.nativeio.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The test opens real TAP queues (inside a private network namespace): it needs /dev/net/tun,
 * CAP_NET_ADMIN, root for {@code ip netns}, and iproute2. Skips with the reason otherwise.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(RequiresTun.Condition.class)
public @interface RequiresTun {
    /** Skips when {@link HostCapabilities#whyNoTun()} has a reason. */
    final class Condition implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            return HostCapabilities.whyNoTun()
                    .map(reason -> ConditionEvaluationResult.disabled("needs a real TAP: " + reason))
                    .orElseGet(() -> ConditionEvaluationResult.enabled("/dev/net/tun, CAP_NET_ADMIN and ip are available"));
        }
    }
}
