package dev.livetap.nativeio;

import java.util.Optional;

/** Computed once per OS: what works here, and why not when it does not. */
public record Availability(boolean nativeAccess, boolean tun, boolean netAdmin, Optional<String> unavailabilityCause) {
    public boolean tapCapable() {
        return nativeAccess && tun && netAdmin;
    }
}
