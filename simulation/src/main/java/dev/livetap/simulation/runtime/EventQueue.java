package dev.livetap.simulation.runtime;

import java.util.PriorityQueue;

/**
 * The simulation's own events (host frames, fault actions, delayed frames), ordered by (virtual
 * deadline, event id): two events due at the same instant run in the order they were scheduled.
 */
public final class EventQueue {
    private record Event(long deadlineNanos, long id, String what, Runnable action) {
    }

    private final PriorityQueue<Event> queue = new PriorityQueue<>((a, b) -> a.deadlineNanos != b.deadlineNanos
            ? Long.compare(a.deadlineNanos, b.deadlineNanos) : Long.compare(a.id, b.id));
    private long nextId;

    public void at(long deadlineNanos, String what, Runnable action) {
        queue.add(new Event(deadlineNanos, nextId++, what, action));
    }

    /** The earliest deadline, or Long.MAX_VALUE when empty. */
    public long nextDeadline() {
        Event e = queue.peek();
        return e == null ? Long.MAX_VALUE : e.deadlineNanos;
    }

    /** Runs the events due at {@code nowNanos} (and those they schedule for now); true if any ran. */
    public boolean runDue(long nowNanos) {
        boolean ran = false;
        while (!queue.isEmpty() && queue.peek().deadlineNanos <= nowNanos) {
            queue.poll().action.run();
            ran = true;
        }
        return ran;
    }

    public boolean isEmpty() {
        return queue.isEmpty();
    }

    public void clear() {
        queue.clear();
    }
}
