// The edgeface Android library on its own (an app includes it with includeBuild or copies
// the module). Needs the Android SDK with NDK r26+ and its CMake 3.22.1 (docs/java.md).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "edgeface-android"
