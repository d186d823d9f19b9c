// SPDX-License-Identifier: MIT
// Guest-side tests of /dev/hmmdevN: identity, interrupts and ioctl argument checks.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/ioctl.h>

#include "hmmdev.hpp"

namespace {

std::string read_sysfs(const std::string &attr)
{
    std::ifstream f("/sys/class/hmmdev/hmmdev0/" + attr);
    std::string s;
    std::getline(f, s);
    return s;
}

int raw_ioctl(const hmmdev::Device &dev, unsigned long req, void *arg)
{
    return ::ioctl(dev.fd(), req, arg) < 0 ? errno : 0;
}

class DeviceTest : public ::testing::Test {
protected:
    hmmdev::Device dev = hmmdev::Device::open(0);
};

// The ioctl reports the same hardware version as sysfs and the uAPI header.
TEST_F(DeviceTest, InfoMatchesSysfs)
{
    auto info = dev.info();
    EXPECT_EQ(info.uapi_version, HMMDEV_UAPI_VERSION);
    EXPECT_EQ(read_sysfs("version"),
              std::to_string(info.hw_major()) + "." + std::to_string(info.hw_minor()));
    EXPECT_GE(info.msix_vectors, 1u);
}

// Ringing the test doorbell delivers one more MSI-X interrupt.
TEST_F(DeviceTest, TestInterruptIsCounted)
{
    auto before = dev.info().irq_count;
    EXPECT_GE(before, 1u) << "probe must have proven the interrupt path";
    {
        std::ofstream f("/sys/class/hmmdev/hmmdev0/irq_test");
        f << "1" << std::flush;
        ASSERT_TRUE(f.good());
    }
    EXPECT_EQ(dev.info().irq_count, before + 1);
    EXPECT_EQ(std::stoull(read_sysfs("irq_count")), before + 1);
}

// An ioctl number the driver does not know is ENOTTY.
TEST_F(DeviceTest, UnknownIoctlIsEnotty)
{
    hmmdev_info info{};
    info.size = sizeof(info);
    EXPECT_EQ(raw_ioctl(dev, _IOWR(HMMDEV_IOC_MAGIC, 0x7f, hmmdev_info), &info), ENOTTY);
    EXPECT_EQ(raw_ioctl(dev, _IOWR('x', 0x00, hmmdev_info), &info), ENOTTY);
}

// A size smaller than the size field itself is EINVAL.
TEST_F(DeviceTest, TooSmallSizeIsEinval)
{
    hmmdev_info info{};
    info.size = 2;
    EXPECT_EQ(raw_ioctl(dev, HMMDEV_IOC_GET_INFO, &info), EINVAL);
}

// A newer, larger struct with a non-zero tail is E2BIG; with a zero tail it works.
TEST_F(DeviceTest, LargerStructFollowsCopyStructFromUser)
{
    struct {
        hmmdev_info info;
        uint64_t tail;
    } big{};
    big.info.size = sizeof(big);
    big.tail = 1;
    EXPECT_EQ(raw_ioctl(dev, HMMDEV_IOC_GET_INFO, &big), E2BIG);
    big.tail = 0;
    EXPECT_EQ(raw_ioctl(dev, HMMDEV_IOC_GET_INFO, &big), 0);
    EXPECT_EQ(big.info.uapi_version, HMMDEV_UAPI_VERSION);
    EXPECT_EQ(big.info.size, sizeof(hmmdev_info)) << "size reports what the driver filled";
}

// An older, smaller struct gets only the fields it has.
TEST_F(DeviceTest, SmallerStructIsFilledPartially)
{
    uint32_t old[3] = {sizeof(old), 0, 0};
    uint32_t guard = 0xdeadbeef;
    struct { uint32_t v[3]; uint32_t guard; } buf{{old[0], 0, 0}, guard};
    EXPECT_EQ(raw_ioctl(dev, HMMDEV_IOC_GET_INFO, &buf), 0);
    EXPECT_EQ(buf.v[1], HMMDEV_UAPI_VERSION);
    EXPECT_NE(buf.v[2], 0u);
    EXPECT_EQ(buf.guard, guard) << "the driver wrote past the caller's size";
}

// Output fields set on input are rejected, so they can become inputs later.
TEST_F(DeviceTest, NonZeroOutputFieldIsEinval)
{
    hmmdev_info info{};
    info.size = sizeof(info);
    info.irq_count = 5;
    EXPECT_EQ(raw_ioctl(dev, HMMDEV_IOC_GET_INFO, &info), EINVAL);
}

// A bad user pointer is EFAULT, not a crash.
TEST_F(DeviceTest, BadPointerIsEfault)
{
    EXPECT_EQ(raw_ioctl(dev, HMMDEV_IOC_GET_INFO, reinterpret_cast<void *>(16)), EFAULT);
}

// Opening a device that does not exist throws with ENOENT and names the path.
TEST(DeviceOpen, MissingDeviceThrowsEnoent)
{
    try {
        hmmdev::Device::open(15);
        FAIL() << "open of /dev/hmmdev15 succeeded";
    } catch (const hmmdev::Error &e) {
        EXPECT_EQ(e.err(), ENOENT);
        EXPECT_NE(std::string(e.what()).find("/dev/hmmdev15"), std::string::npos);
    }
}

} // namespace
