package dev.livetap.actors.vm;

/** A QMP-ready error: the class ({@code GenericError}, {@code DeviceNotFound}, …) and the description. */
public record QmpError(String errorClass, String desc) {
    public static final String GENERIC = "GenericError";
    public static final String DEVICE_NOT_FOUND = "DeviceNotFound";

    public static QmpError generic(String desc) {
        return new QmpError(GENERIC, desc);
    }
}
