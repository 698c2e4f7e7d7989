package dev.livetap.nativeio.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/** The test creates network namespaces ({@code ip netns}): it needs root and iproute2. Skips with the reason otherwise. */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(RequiresRoot.Condition.class)
public @interface RequiresRoot {
    /** Skips when {@link HostCapabilities#whyNotRoot()} has a reason. */
    final class Condition implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            return HostCapabilities.whyNotRoot()
                    .map(reason -> ConditionEvaluationResult.disabled("needs root: " + reason))
                    .orElseGet(() -> ConditionEvaluationResult.enabled("root and ip are available"));
        }
    }
}
