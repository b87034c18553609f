"""edgeface.hostcpu: one reading of this machine's CPU for doctor and the host profile,
on Linux (/proc/cpuinfo, cpufreq), macOS (sysctl, here with recorded answers) and others."""

from edgeface import hostcpu
from edgeface.hostcpu import FEATURES, HostCpu, host_cpu

X86 = """processor\t: 0
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2449.998
flags\t\t: fpu sse4_2 avx avx2 fma avx512f
"""
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp i8mm bf16
CPU implementer\t: 0x41
Hardware\t: Qualcomm Technologies, Inc SM8650
"""


def test_linux_x86_model_clock_and_features():
    cpu = hostcpu._linux(X86, max_khz="")
    assert cpu.model == "AMD EPYC 7B13" and cpu.max_ghz == 2.45
    assert cpu.features == ("sse4_2", "avx", "avx2", "fma", "avx512f")
    assert cpu.sources["clock"] == "/proc/cpuinfo (cpu MHz)"


def test_linux_arm_reads_features_hardware_and_the_cpufreq_clock():
    cpu = hostcpu._linux(ARM, max_khz="3302400\n")
    assert cpu.model == "Qualcomm Technologies, Inc SM8650" and cpu.max_ghz == 3.3
    assert cpu.features == ("asimd", "asimddp", "i8mm", "bf16", "fphp")
    assert "cpuinfo_max_freq" in cpu.sources["clock"]


def test_macos_apple_silicon_from_sysctl():
    answers = {"machdep.cpu.brand_string": "Apple M3 Pro", "hw.optional.neon": "1",
               "hw.optional.arm.FEAT_DotProd": "1", "hw.optional.arm.FEAT_I8MM": "1", "hw.optional.arm.FEAT_BF16": "1",
               "hw.optional.arm.FEAT_FP16": "1"}
    cpu = hostcpu._macos(lambda name: answers.get(name, ""))
    assert cpu.model == "Apple M3 Pro" and cpu.features == ("asimd", "asimddp", "i8mm", "bf16", "fphp")
    assert cpu.max_ghz == hostcpu.ASSUMED_GHZ and "assumed" in cpu.sources["clock"]  # Apple publishes no clock


def test_macos_intel_from_sysctl():
    answers = {"machdep.cpu.brand_string": "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz",
               "hw.cpufrequency_max": "2300000000", "machdep.cpu.features": "FPU SSE4.1 SSE4.2 AVX1.0",
               "machdep.cpu.leaf7_features": "AVX2 BMI2"}
    cpu = hostcpu._macos(lambda name: answers.get(name, ""))
    assert cpu.max_ghz == 2.3 and cpu.features == ("sse4_2", "avx", "avx2")


def test_an_unknown_os_still_gives_a_usable_answer():
    cpu = hostcpu._generic("platform module")
    assert cpu.model and cpu.cores >= 1 and cpu.features == () and cpu.max_ghz == hostcpu.ASSUMED_GHZ


def test_this_machine():
    cpu = host_cpu()
    assert isinstance(cpu, HostCpu) and cpu.model and cpu.cores >= 1 and cpu.max_ghz > 0
    assert set(cpu.features) <= set(FEATURES)


def test_ram_is_read():
    assert hostcpu.ram_gb() > 0
