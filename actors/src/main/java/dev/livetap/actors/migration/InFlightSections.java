package dev.livetap.actors.migration;

import dev.livetap.codec.Section;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * Sections the target's decoder produced that its actor has not taken yet. Pekko Streams drops
 * elements still inside the stream when it is cancelled or the actor stops; these are closed
 * instead, so their fds are never leaked. Shared by the stream's thread and the actor: thread-safe.
 */
final class InFlightSections {
    private final Set<Section> sections = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean drained;

    /** Called on the stream's thread for every decoded section. */
    Section track(Section section) {
        synchronized (sections) {
            if (drained) {
                section.close();
            } else {
                sections.add(section);
            }
        }
        return section;
    }

    void taken(Section section) {
        synchronized (sections) {
            sections.remove(section);
        }
    }

    /** Closes every section not taken; any that comes later is closed on arrival. */
    void drain() {
        synchronized (sections) {
            drained = true;
            sections.forEach(Section::close);
            sections.clear();
        }
    }
}
