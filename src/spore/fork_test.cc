#include "spore/fork.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "spore/manifest_json.h"
#include "spore/memory_image.h"
#include "spore/spore_directory.h"
#include "spore/test_support.h"

namespace spore {
namespace {

using testing::chunk_bytes;
using testing::exists;
using testing::list_directory;
using testing::sample_manifest;
using testing::TemporaryDirectory;

ino_t inode_of(const std::string& path)
{
    struct stat status { };
    EXPECT_EQ(::stat(path.c_str(), &status), 0) << path;
    return status.st_ino;
}

class ForkTest : public ::testing::Test {
protected:
    ForkTest()
    {
        auto writer = SporeWriter::begin(m_parent);
        EXPECT_TRUE(writer) << writer.error().message();
        m_first = writer->chunks().put(chunk_bytes(1)).value();
        m_second = writer->chunks().put(chunk_bytes(2)).value();
        m_manifest = sample_manifest({{m_first}, {}, {m_second}, {m_first}});
        auto committed = writer->commit(m_manifest);
        EXPECT_TRUE(committed) << committed.error().message();
    }

    ForkResult fork(const std::string& parent, uint32_t count, const std::string& out)
    {
        auto result = fork_spore(parent, count, out);
        EXPECT_TRUE(result) << result.error().message();
        return result ? std::move(result).value() : ForkResult{};
    }

    std::string chunk_file(const std::string& spore, const std::string& digest)
    {
        return spore + "/chunks/" + digest.substr(7);
    }

    TemporaryDirectory m_directory;
    std::string m_parent = m_directory.file("parent");
    std::string m_out = m_directory.file("batch");
    std::string m_first;
    std::string m_second;
    Manifest m_manifest;
};

TEST_F(ForkTest, ChildrenDifferFromTheParentOnlyInTheirIdentities)
{
    ForkResult result = fork(m_parent, 3, m_out);
    ASSERT_EQ(result.children.size(), 3u);
    EXPECT_EQ(result.batch_id.size(), 32u);

    std::set<std::string> vm_ids, hostnames, mac_seeds;
    for (uint32_t index = 0; index < 3; index++) {
        EXPECT_EQ(result.children[index], m_out + "/" + fork_child_name(index));
        auto child = SporeReader::open(result.children[index]);
        ASSERT_TRUE(child) << child.error().message();
        const Identity& identity = child->manifest().identity;
        EXPECT_EQ(identity.generation, 4u);
        EXPECT_EQ(identity.parent_generation, 3u);
        EXPECT_EQ(identity.fork_index, index);
        EXPECT_EQ(identity.fork_count, 3u);
        EXPECT_EQ(identity.batch_id, result.batch_id);
        EXPECT_EQ(identity.hostname, "spore-" + identity.vm_id.substr(0, 12));
        vm_ids.insert(identity.vm_id);
        hostnames.insert(identity.hostname);
        mac_seeds.insert(identity.mac_seed);

        Manifest expected = m_manifest;
        expected.identity = identity;
        EXPECT_EQ(child->manifest(), expected);
        EXPECT_EQ(child->manifest().running_sessions, m_manifest.running_sessions);
        // Written by splicing, yet canonical.
        EXPECT_EQ(testing::read_text(result.children[index] + "/manifest.json"),
            serialize_manifest(expected));
    }
    EXPECT_EQ(vm_ids.size(), 3u);
    EXPECT_EQ(hostnames.size(), 3u);
    EXPECT_EQ(mac_seeds.size(), 3u);
}

TEST_F(ForkTest, BatchHoldsOneSharedStoreOfHardLinksAndSymlinkedChildren)
{
    fork(m_parent, 2, m_out);
    EXPECT_EQ(list_directory(m_out), (std::vector<std::string>{"000000", "000001", "chunks"}));
    EXPECT_EQ(list_directory(m_out + "/chunks").size(), 2u);
    EXPECT_EQ(inode_of(chunk_file(m_out, m_first)), inode_of(chunk_file(m_parent, m_first)));
    EXPECT_EQ(inode_of(chunk_file(m_out + "/000001", m_second)),
        inode_of(chunk_file(m_parent, m_second)));

    char target[64] = {};
    ASSERT_EQ(::readlink((m_out + "/000000/chunks").c_str(), target, sizeof(target) - 1), 9);
    EXPECT_STREQ(target, "../chunks");
    EXPECT_EQ(
        list_directory(m_out + "/000000"), (std::vector<std::string>{"chunks", "manifest.json"}));
    EXPECT_TRUE(
        list_directory(m_directory.path()) == (std::vector<std::string>{"batch", "parent"}));
}

TEST_F(ForkTest, AChildRestoresItsMemoryThroughTheSymlinkedStore)
{
    fork(m_parent, 2, m_out);
    auto child = SporeReader::open(m_out + "/000001");
    ASSERT_TRUE(child) << child.error().message();
    std::vector<uint8_t> ram(4 * testing::kTestChunkSize, 0);
    auto restored = restore_memory(child->manifest().memory, child->chunks(), ram);
    ASSERT_TRUE(restored) << restored.error().message();
    size_t size = testing::kTestChunkSize;
    EXPECT_EQ(std::vector<uint8_t>(ram.begin(), ram.begin() + size), chunk_bytes(1));
    EXPECT_EQ(std::vector<uint8_t>(ram.begin() + size, ram.begin() + 2 * size), chunk_bytes(0));
    EXPECT_EQ(std::vector<uint8_t>(ram.begin() + 2 * size, ram.begin() + 3 * size), chunk_bytes(2));
    EXPECT_EQ(std::vector<uint8_t>(ram.begin() + 3 * size, ram.end()), chunk_bytes(1));
}

TEST_F(ForkTest, AChildWithACorruptSharedChunkIsCaughtWhenRead)
{
    fork(m_parent, 1, m_out);
    // Break the link first so the parent keeps its good copy.
    std::string shared = chunk_file(m_out, m_second);
    ASSERT_EQ(::unlink(shared.c_str()), 0);
    testing::write_text(shared, std::string(testing::kTestChunkSize, 'x'));
    auto child = SporeReader::open(m_out + "/000000");
    ASSERT_TRUE(child) << child.error().message();
    std::vector<uint8_t> ram(4 * testing::kTestChunkSize, 0);
    auto restored = restore_memory(child->manifest().memory, child->chunks(), ram);
    ASSERT_FALSE(restored);
    EXPECT_NE(restored.error().message().find("is corrupt"), std::string::npos);
}

TEST_F(ForkTest, AForkOfAChildIsTheNextGeneration)
{
    ForkResult first = fork(m_parent, 2, m_out);
    std::string grandchildren = m_directory.file("grandchildren");
    ForkResult second = fork(first.children[1], 4, grandchildren);
    ASSERT_EQ(second.children.size(), 4u);
    EXPECT_NE(second.batch_id, first.batch_id);
    auto child = SporeReader::open(second.children[3]);
    ASSERT_TRUE(child) << child.error().message();
    EXPECT_EQ(child->manifest().identity.generation, 5u);
    EXPECT_EQ(child->manifest().identity.parent_generation, 4u);
    EXPECT_EQ(child->manifest().identity.fork_index, 3u);
    EXPECT_EQ(child->manifest().memory, m_manifest.memory);
    EXPECT_EQ(
        inode_of(chunk_file(grandchildren, m_first)), inode_of(chunk_file(m_parent, m_first)));
}

TEST_F(ForkTest, TenThousandChildrenAreMade)
{
    auto result = fork_spore(m_parent, kMaxForkChildren, m_out);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->children.size(), 10000u);
    EXPECT_EQ(result->children.back(), m_out + "/009999");
    auto last = SporeReader::open(result->children.back());
    ASSERT_TRUE(last) << last.error().message();
    EXPECT_EQ(last->manifest().identity.fork_index, 9999u);
    EXPECT_EQ(last->manifest().identity.fork_count, 10000u);
}

TEST_F(ForkTest, CountsOutsideOneToTenThousandAreRefused)
{
    for (uint32_t count : {0u, kMaxForkChildren + 1}) {
        auto result = fork_spore(m_parent, count, m_out);
        ASSERT_FALSE(result);
        EXPECT_EQ(result.error().message(),
            "fork: cannot make " + std::to_string(count) + " children (1 to 10000)");
    }
    EXPECT_FALSE(exists(m_out));
}

TEST_F(ForkTest, AnExistingOutputIsRefusedAndKept)
{
    ASSERT_EQ(::mkdir(m_out.c_str(), 0755), 0);
    auto result = fork_spore(m_parent, 2, m_out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message(), "fork: " + m_out + ": already exists");
    EXPECT_TRUE(list_directory(m_out).empty());
    EXPECT_EQ(list_directory(m_directory.path()), (std::vector<std::string>{"batch", "parent"}));
}

TEST_F(ForkTest, AMissingParentChunkIsRefusedBeforeAnythingIsStaged)
{
    ASSERT_EQ(::unlink(chunk_file(m_parent, m_second).c_str()), 0);
    auto result = fork_spore(m_parent, 2, m_out);
    ASSERT_FALSE(result);
    EXPECT_NE(
        result.error().message().find("chunk " + m_second + " is missing"), std::string::npos);
    EXPECT_EQ(list_directory(m_directory.path()), std::vector<std::string>{"parent"});
}

TEST_F(ForkTest, AnInterruptedForkLeavesNoBatchAndNoStaging)
{
    ForkOptions options;
    options.on_child_staged = [&](uint32_t staged, uint32_t) -> Result<void> {
        if (staged < 50)
            return {};
        EXPECT_EQ(list_directory(m_directory.path()).size(), 2u); // parent and staging
        return Error{ErrorCode::Interrupted, "interrupted"};
    };
    auto result = fork_spore(m_parent, 100, m_out, options);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), ErrorCode::Interrupted);
    EXPECT_EQ(list_directory(m_directory.path()), std::vector<std::string>{"parent"});
}

// SIGKILL mid-fork: no cleanup runs, so at most the hidden staging
// directory is left, and neither it nor anything in it reads as a spore.
TEST_F(ForkTest, AForkKilledMidwayLeavesNothingThatLooksLikeABatch)
{
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ForkOptions options;
        options.on_child_staged = [](uint32_t staged, uint32_t) -> Result<void> {
            if (staged == 50)
                ::raise(SIGKILL);
            return {};
        };
        (void)fork_spore(m_parent, 100, m_out, options);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    EXPECT_FALSE(exists(m_out));
    std::vector<std::string> left = list_directory(m_directory.path());
    ASSERT_EQ(left.size(), 2u);
    std::string staging = left[0] == "parent" ? left[1] : left[0];
    EXPECT_TRUE(is_staging_name(staging));
    EXPECT_FALSE(SporeReader::open(m_directory.file(staging) + "/000000"));
    // The same output can be forked afresh.
    fork(m_parent, 3, m_out);
    EXPECT_TRUE(SporeReader::open(m_out + "/000002"));
}

TEST_F(ForkTest, AParentThatIsNotASporeIsRefused)
{
    auto result = fork_spore(m_directory.file("nothing"), 2, m_out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message(), "fork: " + m_directory.file("nothing") + ": no such spore");
    fork(m_parent, 2, m_out);
    auto batch = fork_spore(m_out, 2, m_directory.file("other"));
    ASSERT_FALSE(batch);
    EXPECT_NE(batch.error().message().find("no manifest.json"), std::string::npos);
}

TEST_F(ForkTest, AChildCopiedWithoutItsBatchStoreIsExplained)
{
    fork(m_parent, 1, m_out);
    std::string alone = m_directory.file("alone");
    ASSERT_EQ(::mkdir(alone.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((alone + "/copy").c_str(), 0755), 0);
    testing::write_text(
        alone + "/copy/manifest.json", testing::read_text(m_out + "/000000/manifest.json"));
    ASSERT_EQ(::symlink("../chunks", (alone + "/copy/chunks").c_str()), 0);
    auto reader = SporeReader::open(alone + "/copy");
    ASSERT_FALSE(reader);
    EXPECT_NE(reader.error().message().find("chunks links to ../chunks, which does not exist"),
        std::string::npos);
}

TEST_F(ForkTest, ChildrenOfABatchBeingStagedAreNotSpores)
{
    ForkOptions options;
    std::string staged_child;
    options.on_child_staged = [&](uint32_t, uint32_t) -> Result<void> {
        for (const std::string& name : list_directory(m_directory.path())) {
            if (is_staging_name(name))
                staged_child = m_directory.file(name) + "/000000";
        }
        auto reader = SporeReader::open(staged_child);
        EXPECT_FALSE(reader);
        if (!reader) {
            EXPECT_NE(
                reader.error().message().find("unfinished staging directory"), std::string::npos);
        }
        return {};
    };
    ASSERT_TRUE(fork_spore(m_parent, 1, m_out, options));
    EXPECT_FALSE(staged_child.empty());
}

} // namespace
} // namespace spore
