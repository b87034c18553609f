// The edgeface Android library: the Java API of native/java, and libedgeface.so +
// libedgeface_jni.so built by the NDK from native/ (src/main/cpp/CMakeLists.txt) for
// arm64-v8a over the libLiteRt.so of LiteRT's Android package. edgeface's CI has no NDK
// and no Maven: it builds that CMake entry with clang for arm64 Linux instead
// (tests/test_android_build.py); docs/java.md says what was and was not verified.
plugins {
    id("com.android.library") version "8.5.2"
}

val litert: Configuration by configurations.creating

dependencies {
    // LiteRT's Android package, the version of the Python SDK's ai-edge-litert (2.3.0): its
    // AAR is expected to carry jni/arm64-v8a/libLiteRt.so, which the app packages and the
    // NDK build links against.
    implementation("com.google.ai.edge.litert:litert:2.3.0")
    litert("com.google.ai.edge.litert:litert:2.3.0@aar")
}

// libLiteRt.so out of the AAR, for CMake's EDGEFACE_LITERT_LIBRARY
val litertDir = layout.buildDirectory.dir("litert")
val extractLiteRt by tasks.registering(Copy::class) {
    from({ zipTree(litert.singleFile) }) {
        include("jni/arm64-v8a/libLiteRt.so")
    }
    into(litertDir)
}

android {
    namespace = "dev.edgeface"
    compileSdk = 34
    ndkVersion = "26.3.11579264"

    defaultConfig {
        minSdk = 24
        ndk {
            abiFilters += "arm64-v8a"
        }
        externalNativeBuild {
            cmake {
                arguments += listOf(
                    "-DANDROID_STL=c++_shared",
                    "-DEDGEFACE_LITERT_LIBRARY=" + litertDir.get().file("jni/arm64-v8a/libLiteRt.so").asFile.path,
                )
            }
        }
    }
    externalNativeBuild {
        cmake {
            path = file("src/main/cpp/CMakeLists.txt")
            version = "3.22.1"
        }
    }
    sourceSets {
        getByName("main") {
            java.srcDirs("../java/src/main/java")
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    packaging {
        // libLiteRt.so comes with the LiteRT dependency; do not package a second copy
        jniLibs.pickFirsts += "lib/arm64-v8a/libLiteRt.so"
    }
}

tasks.matching { it.name.startsWith("configureCMake") || it.name.startsWith("buildCMake") }.configureEach {
    dependsOn(extractLiteRt)
}
