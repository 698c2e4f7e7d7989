package dev.livetap.actors.options;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.function.Executable;

/** Asserts the exact text of an option error. */
final class Errors {
    private Errors() {
    }

    static OptionException assertRejected(String expectedMessage, Executable action) {
        OptionException e = assertThrows(OptionException.class, action);
        assertEquals(expectedMessage, e.getMessage(), "the error text is part of the contract");
        assertEquals("GenericError", e.errorClass());
        return e;
    }
}
