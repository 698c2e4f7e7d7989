package dev.livetap.engine.qmp;

import java.util.Objects;

/**
 * A QMP error reply: a command handler completes exceptionally with this (or throws it) to answer
 * {@code {"error": {"class": ..., "desc": ...}}}. Any other exception becomes a GenericError with
 * the exception's message.
 */
public class QmpException extends RuntimeException {
    private final QmpErrorClass errorClass;

    public QmpException(QmpErrorClass errorClass, String desc) {
        super(desc);
        this.errorClass = Objects.requireNonNull(errorClass, "errorClass");
    }

    public QmpErrorClass errorClass() {
        return errorClass;
    }

    /** The human-readable text sent as {@code desc}. */
    public String desc() {
        return getMessage();
    }

    public static QmpException generic(String desc) {
        return new QmpException(QmpErrorClass.GenericError, desc);
    }

    /** QEMU's text for an unknown command. */
    public static QmpException commandNotFound(String command) {
        return new QmpException(QmpErrorClass.CommandNotFound, "The command " + command + " has not been found");
    }

    /** QEMU's text for an unknown device or netdev id. */
    public static QmpException deviceNotFound(String id) {
        return new QmpException(QmpErrorClass.DeviceNotFound, "Device '" + id + "' not found");
    }

    public static QmpException deviceNotActive(String desc) {
        return new QmpException(QmpErrorClass.DeviceNotActive, desc);
    }

    /** QAPI's text for a value of the right type that is not acceptable. */
    public static QmpException invalidValue(String parameter, String expectation) {
        return generic("Parameter '" + parameter + "' expects " + expectation);
    }
}
