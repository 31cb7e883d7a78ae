#include "guest/agent/agent.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "exec/protocol.h"
#include "guest/agent/connection.h"
#include "guest/agent/session.h"

namespace spore::agent {
namespace {

using exec::FrameType;

constexpr int kListenBacklog = 16;
constexpr int kMaxEvents = 64;

// Pause after an unexpected accept() failure, so a persistent one (such as
// running out of descriptors) does not spin PID 1.
constexpr timespec kAcceptBackoff{0, 10'000'000};

// What an epoll event is about: the top byte of its data, the rest a serial.
enum class Source : uint64_t {
    Listener = 1,
    ChildSignal = 2,
    Connection = 3,
    Stdout = 4,
    Stderr = 5,
    Generation = 6,
};

constexpr int kSourceShift = 56;

uint64_t tag(Source source, uint64_t serial = 0)
{
    return (static_cast<uint64_t>(source) << kSourceShift) | serial;
}

uint64_t pipe_tag(const Session& session, size_t index)
{
    return tag(index == kStdoutIndex ? Source::Stdout : Source::Stderr, session.serial());
}

std::string stream_name(size_t index)
{
    return index == kStdoutIndex ? "stdout" : "stderr";
}

// SIGCHLD stays blocked and arrives through a descriptor the loop polls.
Result<UniqueFd> child_signal_fd()
{
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &child, nullptr) != 0)
        return Error::from_errno("spore-agent: sigprocmask");
    UniqueFd fd(signalfd(-1, &child, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd.valid())
        return Error::from_errno("spore-agent: signalfd");
    return fd;
}

// The agent: every connection and session, driven by one epoll loop.
class Agent {
public:
    Agent(int listen_fd, AgentOptions options)
        : m_listen_fd(listen_fd)
        , m_options(std::move(options))
        , m_device(std::move(m_options.generation_device))
        , m_applier(m_options.generation, m_options.clock)
    {
    }

    Result<void> start()
    {
        int flags = fcntl(m_listen_fd, F_GETFL);
        if (flags < 0 || fcntl(m_listen_fd, F_SETFL, flags | O_NONBLOCK) != 0)
            return Error::from_errno("spore-agent: fcntl O_NONBLOCK on the listener");
        m_epoll.reset(epoll_create1(EPOLL_CLOEXEC));
        if (!m_epoll.valid())
            return Error::from_errno("spore-agent: epoll_create1");
        m_child_signals = TRY(child_signal_fd());
        TRY(watch(m_listen_fd, EPOLLIN, tag(Source::Listener)));
        TRY(watch(m_child_signals.get(), EPOLLIN, tag(Source::ChildSignal)));
        // Children that exited before SIGCHLD was blocked raised no signal to read.
        reap_children();
        if (m_device)
            TRY(start_generation_device());
        return {};
    }

    Result<void> run()
    {
        std::array<epoll_event, kMaxEvents> events;
        while (true) {
            int count = epoll_wait(m_epoll.get(), events.data(), kMaxEvents, next_timeout_ms());
            if (count < 0) {
                if (errno == EINTR)
                    continue;
                return Error::from_errno("spore-agent: epoll_wait");
            }
            for (int index = 0; index < count; index++)
                dispatch(events[static_cast<size_t>(index)]);
            expire_deadlines();
            sweep_connections();
            update_pipe_watches();
        }
    }

private:
    void dispatch(const epoll_event& event)
    {
        auto source = static_cast<Source>(event.data.u64 >> kSourceShift);
        uint64_t serial = event.data.u64 & ((uint64_t{1} << kSourceShift) - 1);
        switch (source) {
        case Source::Listener:
            accept_connection();
            break;
        case Source::ChildSignal:
            reap_children();
            break;
        case Source::Connection:
            if (Connection* connection = find_connection(serial)) {
                if (event.events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    receive(*connection);
                if (!connection->closed() && (event.events & EPOLLOUT))
                    pump(*connection);
            }
            break;
        case Source::Stdout:
        case Source::Stderr:
            if (Session* session = find_session(serial))
                read_pipe(*session, source == Source::Stdout ? kStdoutIndex : kStderrIndex);
            break;
        case Source::Generation:
            generation_interrupt(event.events);
            break;
        }
    }

    // An interrupt that fired before the agent opened the device is not
    // counted on its file, and left the interrupt masked: a generation
    // presented at boot would otherwise wait forever.
    Result<void> start_generation_device()
    {
        TRY(watch(m_device->fd(), EPOLLIN, tag(Source::Generation)));
        if (m_device->pending())
            serve_generation_device();
        if (auto enabled = m_device->enable_interrupt(); !enabled)
            report_device_problem(enabled.error());
        return {};
    }

    void generation_interrupt(uint32_t events)
    {
        auto taken = (events & EPOLLERR)
            ? Result<void>(Error::guest("its uio file reports an error"))
            : m_device->take_interrupt();
        if (!taken) {
            // A file that keeps failing would spin the loop; in-band parameters still arrive.
            report_device_problem(taken.error());
            unwatch(m_device->fd());
            return;
        }
        serve_generation_device();
        if (auto enabled = m_device->enable_interrupt(); !enabled)
            report_device_problem(enabled.error());
    }

    // Applies the device's parameters if they are new, then acknowledges
    // the interrupt whatever they were, so a bad page cannot hold the line.
    void serve_generation_device()
    {
        auto parameters = m_device->read_parameters();
        if (parameters)
            m_applier.apply(*parameters);
        else
            report_device_problem(parameters.error());
        m_device->acknowledge();
    }

    // Reports a problem of the device on the console, the same one only
    // once in a row, so a host that repeats it cannot flood the console.
    void report_device_problem(const Error& error)
    {
        if (error.message() == m_last_device_problem)
            return;
        m_last_device_problem = error.message();
        std::fprintf(stderr, "spore-agent: generation device: %s\n", error.message().c_str());
    }

    // Brings the guest up to date before a request is served: a generation
    // the device presents and the agent has not seen yet, then the
    // request's own generation and time. Only a clock that cannot be set
    // fails the request.
    Result<void> apply_host_parameters(const exec::HostParameters& parameters)
    {
        if (m_device && m_device->pending())
            serve_generation_device();
        if (parameters.generation)
            m_applier.apply(*parameters.generation);
        return apply_host_time(m_options.clock, parameters);
    }

    Result<void> watch(int fd, uint32_t events, uint64_t data)
    {
        epoll_event event{events, {.u64 = data}};
        if (epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &event) != 0)
            return Error::from_errno("spore-agent: epoll_ctl add");
        return {};
    }

    void unwatch(int fd) { epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr); }

    void set_wants_write(Connection& connection, bool wants_write)
    {
        if (connection.wants_write == wants_write)
            return;
        connection.wants_write = wants_write;
        epoll_event event{EPOLLIN | (wants_write ? EPOLLOUT : 0u),
            {.u64 = tag(Source::Connection, connection.serial())}};
        epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, connection.fd(), &event);
    }

    Connection* find_connection(uint64_t serial)
    {
        auto found = m_connections.find(serial);
        if (found == m_connections.end() || found->second->closed())
            return nullptr;
        return found->second.get();
    }

    void accept_connection()
    {
        UniqueFd socket(accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!socket.valid()) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                nanosleep(&kAcceptBackoff, nullptr);
            return;
        }
        if (m_connections.size() >= m_options.limits.max_connections) {
            // The refusal is sent only if it fits right away: PID 1 never waits on a peer.
            auto frame = exec::encode_error("exec: too many connections, limit is "
                + std::to_string(m_options.limits.max_connections));
            ::send(socket.get(), frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            return;
        }
        uint64_t serial = m_next_serial++;
        int fd = socket.get();
        auto deadline = Clock::now() + m_options.limits.request_timeout;
        if (!watch(fd, EPOLLIN, tag(Source::Connection, serial)))
            return;
        m_connections.emplace(
            serial, std::make_unique<Connection>(std::move(socket), serial, deadline));
    }

    void receive(Connection& connection)
    {
        switch (connection.receive()) {
        case Connection::Received::Nothing:
            return;
        case Connection::Received::Broken:
            close_connection(connection);
            return;
        case Connection::Received::EndOfStream:
            end_of_stream(connection);
            return;
        case Connection::Received::Data:
            break;
        }
        if (connection.state == Connection::State::Attached)
            fail(connection, "exec: unexpected data from the host after the request");
        else if (connection.state == Connection::State::AwaitingRequest)
            take_request(connection);
        else if (connection.acknowledges_exit)
            take_acknowledgment(connection);
    }

    // The host has stopped sending. Before EXIT it went away and the session
    // waits for another client. Even after EXIT it proves nothing: a host
    // that vanished with EXIT unread looks the same, so only ACK counts.
    void end_of_stream(Connection& connection) { close_connection(connection); }

    // An ACK after EXIT lets the agent forget the session; anything else
    // after EXIT just ends the connection.
    void take_acknowledgment(Connection& connection)
    {
        auto frame = connection.decoder().next();
        if (frame && !*frame)
            return;
        bool acknowledged = frame && (*frame)->type == FrameType::Ack && (*frame)->payload.empty()
            && connection.decoder().buffered() == 0;
        if (acknowledged) {
            auto found = m_sessions.find(connection.session_id);
            // Another client may have attached meanwhile; its own ACK ends the session.
            if (found != m_sessions.end() && !found->second->client)
                remove_session(found);
        }
        close_connection(connection);
    }

    void take_request(Connection& connection)
    {
        auto frame = connection.decoder().next();
        if (!frame) {
            fail(connection, frame.error().message());
            return;
        }
        if (!*frame)
            return;
        if (connection.decoder().buffered() != 0) {
            fail(connection, "exec: unexpected data after the request");
            return;
        }
        if ((*frame)->type == FrameType::Request) {
            auto request = exec::parse_request((*frame)->payload);
            if (!request)
                fail(connection, request.error().message());
            else
                start_session(connection, *request);
        } else if ((*frame)->type == FrameType::Attach) {
            auto request = exec::parse_attach((*frame)->payload);
            if (!request)
                fail(connection, request.error().message());
            else
                attach_session(connection, *request);
        } else {
            fail(connection,
                "exec: expected a request or attach, got " + frame_type_name((*frame)->type));
        }
    }

    // Queues an ERROR as the connection's last frame, after anything
    // already queued so that the frame stream stays whole.
    void fail(Connection& connection, const std::string& message)
    {
        detach(connection);
        connection.queue(exec::encode_error(message));
        connection.state = Connection::State::Closing;
        connection.acknowledges_exit = false;
        connection.deadline = Clock::now() + m_options.limits.linger_timeout;
        pump(connection);
    }

    void detach(Connection& connection)
    {
        if (connection.state != Connection::State::Attached)
            return;
        auto found = m_sessions.find(connection.session_id);
        if (found != m_sessions.end() && found->second->client == connection.serial())
            found->second->client.reset();
        connection.session_id.clear();
    }

    // Drops the connection at once; the session, if any, stays for another client.
    void close_connection(Connection& connection)
    {
        detach(connection);
        unwatch(connection.fd());
        connection.close();
    }

    void sweep_connections()
    {
        std::erase_if(m_connections, [](const auto& entry) { return entry.second->closed(); });
    }

    void expire_deadlines()
    {
        auto now = Clock::now();
        for (auto& [serial, connection] : m_connections) {
            if (connection->closed() || connection->state == Connection::State::Attached
                || now < connection->deadline)
                continue;
            if (connection->state == Connection::State::AwaitingRequest)
                fail(*connection, "exec: no request from the host in time");
            else
                close_connection(*connection);
        }
    }

    int next_timeout_ms() const
    {
        std::optional<Clock::time_point> earliest;
        for (const auto& [serial, connection] : m_connections) {
            if (connection->closed() || connection->state == Connection::State::Attached)
                continue;
            if (!earliest || connection->deadline < *earliest)
                earliest = connection->deadline;
        }
        if (!earliest)
            return -1;
        auto remaining
            = std::chrono::ceil<std::chrono::milliseconds>(*earliest - Clock::now()).count();
        return static_cast<int>(std::clamp<long long>(remaining, 0, INT32_MAX));
    }

    // Sends what the connection has queued, then the session's next frames,
    // until the socket is full or there is nothing left to send.
    void pump(Connection& connection)
    {
        while (true) {
            if (connection.has_pending()) {
                if (!connection.flush()) {
                    close_connection(connection);
                    return;
                }
                if (connection.has_pending()) {
                    set_wants_write(connection, true);
                    return;
                }
            }
            if (connection.state == Connection::State::Closing)
                connection.finish_sending();
            if (connection.state != Connection::State::Attached || !queue_next_frame(connection)) {
                set_wants_write(connection, false);
                return;
            }
        }
    }

    // Queues the attached session's next output frame, or EXIT once all
    // output is sent; false when neither is ready.
    bool queue_next_frame(Connection& connection)
    {
        auto found = m_sessions.find(connection.session_id);
        if (found == m_sessions.end())
            return false;
        Session& session = *found->second;
        for (size_t turn = 0; turn < 2; turn++) {
            size_t index = (connection.next_stream + turn) % 2;
            auto& stream = session.stream(index);
            auto data = stream.buffer.view(stream.sent, OutputBuffer::kBlockSize);
            if (data.empty())
                continue;
            connection.queue(exec::encode_output(stream.type, stream.sent, data));
            stream.sent += data.size();
            connection.next_stream = (index + 1) % 2;
            return true;
        }
        auto status = session.status();
        if (!status)
            return false;
        connection.queue(exec::encode_exit(*status));
        session.client.reset();
        connection.state = Connection::State::Closing;
        connection.acknowledges_exit = true;
        connection.deadline = Clock::now() + m_options.limits.linger_timeout;
        return true;
    }

    Session* find_session(uint64_t serial)
    {
        auto found = m_sessions_by_serial.find(serial);
        return found == m_sessions_by_serial.end() ? nullptr : found->second;
    }

    void start_session(Connection& connection, const exec::ExecRequest& request)
    {
        // Before the session id is drawn: a new generation reseeds the random
        // generator, so two resumes of one capture do not repeat ids.
        if (auto applied = apply_host_parameters(request.parameters); !applied) {
            fail(connection, applied.error().message());
            return;
        }
        if (m_sessions.size() >= m_options.limits.max_sessions && !drop_oldest_finished()) {
            fail(connection,
                "exec: too many sessions, limit is "
                    + std::to_string(m_options.limits.max_sessions));
            return;
        }
        auto id = make_session_id();
        // 128 random bits do not collide in practice; an agent that saw one must not mix sessions.
        if (id && m_sessions.contains(*id))
            id = Error::guest("spore-agent: session id collision");
        if (!id) {
            fail(connection, id.error().message());
            return;
        }
        auto command = spawn_command(request);
        if (!command) {
            fail(connection, command.error().message());
            return;
        }

        uint64_t serial = m_next_serial++;
        pid_t pid = command->pid;
        auto owned = std::make_unique<Session>(
            *id, serial, request.argv[0], request.working_directory, std::move(*command));
        Session& session = *owned;
        m_sessions.emplace(*id, std::move(owned));
        m_sessions_by_serial.emplace(serial, &session);
        m_sessions_by_pid.emplace(pid, &session);
        connect(connection, session, 0, 0);
    }

    void attach_session(Connection& connection, const exec::AttachRequest& request)
    {
        if (auto applied = apply_host_parameters(request.parameters); !applied) {
            fail(connection, applied.error().message());
            return;
        }
        auto found = m_sessions.find(request.session_id);
        if (found == m_sessions.end()) {
            fail(connection, "exec: no such session " + request.session_id);
            return;
        }
        Session& session = *found->second;
        uint64_t offsets[2] = {request.stdout_offset, request.stderr_offset};
        for (size_t index = 0; index < 2; index++) {
            uint64_t written = session.stream(index).buffer.end();
            if (offsets[index] > written) {
                fail(connection,
                    "exec: " + stream_name(index) + " offset " + std::to_string(offsets[index])
                        + " is beyond the " + std::to_string(written)
                        + " bytes the command has written");
                return;
            }
        }
        if (session.client) {
            if (Connection* previous = find_connection(*session.client))
                fail(*previous, "exec: another client attached to session " + session.id());
        }
        connect(connection, session, offsets[0], offsets[1]);
    }

    // Makes connection the session's client, sending from the given offsets.
    void connect(
        Connection& connection, Session& session, uint64_t stdout_offset, uint64_t stderr_offset)
    {
        session.client = connection.serial();
        connection.state = Connection::State::Attached;
        connection.session_id = session.id();
        connection.queue(exec::encode_started(session.id()));
        uint64_t offsets[2] = {stdout_offset, stderr_offset};
        for (size_t index = 0; index < 2; index++) {
            auto& stream = session.stream(index);
            stream.sent = std::max(offsets[index], stream.buffer.start());
            if (offsets[index] < stream.sent)
                connection.queue(exec::encode_lost({stream.type, stream.sent}));
        }
        pump(connection);
    }

    bool drop_oldest_finished()
    {
        auto oldest = m_sessions.end();
        for (auto entry = m_sessions.begin(); entry != m_sessions.end(); ++entry) {
            const Session& session = *entry->second;
            if (!session.status() || session.client)
                continue;
            if (oldest == m_sessions.end() || session.finish_order < oldest->second->finish_order)
                oldest = entry;
        }
        if (oldest == m_sessions.end())
            return false;
        remove_session(oldest);
        return true;
    }

    void remove_session(std::map<std::string, std::unique_ptr<Session>>::iterator entry)
    {
        Session& session = *entry->second;
        for (size_t index = 0; index < 2; index++)
            close_pipe(session, index);
        m_sessions_by_serial.erase(session.serial());
        if (session.pid() > 0)
            m_sessions_by_pid.erase(session.pid());
        m_sessions.erase(entry);
    }

    void close_pipe(Session& session, size_t index)
    {
        auto& pipe = session.stream(index).pipe;
        if (!pipe.valid())
            return;
        if (m_watched_pipes.erase(pipe_tag(session, index)))
            unwatch(pipe.get());
        pipe.reset();
    }

    void read_pipe(Session& session, size_t index)
    {
        auto result = session.read_output(index, OutputBuffer::kBlockSize);
        if (result && *result == Session::ReadResult::Empty)
            return;
        if (!result || *result == Session::ReadResult::EndOfFile) {
            close_pipe(session, index);
            // Output can end after the command did, when a background process held the pipe.
            send_to_client(session);
            return;
        }
        session.trim(index, m_options.limits.stream_capacity);
        enforce_budget();
        send_to_client(session);
    }

    void send_to_client(Session& session)
    {
        if (!session.client)
            return;
        if (Connection* connection = find_connection(*session.client))
            pump(*connection);
    }

    void reap_children()
    {
        signalfd_siginfo info;
        while (::read(m_child_signals.get(), &info, sizeof info) == sizeof info) { }
        // One SIGCHLD may stand for many exits, and orphans count too.
        int wait_status = 0;
        pid_t pid;
        while ((pid = waitpid(-1, &wait_status, WNOHANG)) > 0) {
            auto found = m_sessions_by_pid.find(pid);
            if (found == m_sessions_by_pid.end())
                continue;
            Session& session = *found->second;
            m_sessions_by_pid.erase(found);
            finish_session(session, wait_status);
        }
    }

    // The command exited: what it wrote before is in the pipes, so take
    // that and stop reading; background processes it left get EPIPE.
    void finish_session(Session& session, int wait_status)
    {
        session.set_exited(wait_status);
        for (size_t index = 0; index < 2; index++) {
            // A failed drain loses only bytes the command wrote as it ended.
            [[maybe_unused]] auto drained = session.drain_output(index);
            close_pipe(session, index);
            session.trim(index, m_options.limits.stream_capacity);
        }
        session.finish_order = ++m_finished_count;
        enforce_budget();
        send_to_client(session);
    }

    uint64_t total_kept() const
    {
        uint64_t total = 0;
        for (const auto& [id, session] : m_sessions)
            total += session->stream(kStdoutIndex).buffer.size()
                + session->stream(kStderrIndex).buffer.size();
        return total;
    }

    // Forgets the oldest droppable bytes, largest holder first, until all
    // streams together fit the output budget.
    void enforce_budget()
    {
        uint64_t total = total_kept();
        while (total > m_options.limits.output_budget) {
            Session* largest = nullptr;
            size_t largest_index = 0;
            uint64_t largest_droppable = 0;
            for (auto& [id, session] : m_sessions) {
                for (size_t index = 0; index < 2; index++) {
                    if (session->droppable(index) > largest_droppable) {
                        largest = session.get();
                        largest_index = index;
                        largest_droppable = session->droppable(index);
                    }
                }
            }
            if (!largest)
                return;
            uint64_t dropped = std::min(largest_droppable, total - m_options.limits.output_budget);
            auto& buffer = largest->stream(largest_index).buffer;
            buffer.drop_until(buffer.start() + dropped);
            total -= dropped;
        }
    }

    // Reads a pipe only while its bytes have somewhere to go: an attached
    // client that falls a stream's capacity behind, or a budget that holds
    // nothing droppable, holds the command up on its full pipe instead.
    void update_pipe_watches()
    {
        uint64_t total = total_kept();
        uint64_t droppable = 0;
        for (const auto& [id, session] : m_sessions)
            droppable += session->droppable(kStdoutIndex) + session->droppable(kStderrIndex);
        bool budget_allows = total < m_options.limits.output_budget || droppable > 0;

        for (auto& [id, session] : m_sessions) {
            for (size_t index = 0; index < 2; index++) {
                auto& pipe = session->stream(index).pipe;
                if (!pipe.valid())
                    continue;
                bool wanted
                    = budget_allows && session->unsent(index) < m_options.limits.stream_capacity;
                uint64_t key = pipe_tag(*session, index);
                bool watched = m_watched_pipes.contains(key);
                if (wanted && !watched && watch(pipe.get(), EPOLLIN, key))
                    m_watched_pipes.insert(key);
                else if (!wanted && watched) {
                    unwatch(pipe.get());
                    m_watched_pipes.erase(key);
                }
            }
        }
    }

    int m_listen_fd;
    AgentOptions m_options;
    std::unique_ptr<GenerationDevice> m_device;
    GenerationApplier m_applier;
    std::string m_last_device_problem;
    UniqueFd m_epoll;
    UniqueFd m_child_signals;
    uint64_t m_next_serial = 1;
    uint64_t m_finished_count = 0;
    std::map<uint64_t, std::unique_ptr<Connection>> m_connections;
    std::map<std::string, std::unique_ptr<Session>> m_sessions;
    std::map<uint64_t, Session*> m_sessions_by_serial;
    std::map<pid_t, Session*> m_sessions_by_pid;
    std::set<uint64_t> m_watched_pipes;
};

} // namespace

Result<UniqueFd> listen_vsock(uint32_t port)
{
    UniqueFd fd(socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        return Error::from_errno("spore-agent: vsock socket");
    sockaddr_vm address{};
    address.svm_family = AF_VSOCK;
    address.svm_port = port;
    address.svm_cid = VMADDR_CID_ANY;
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        return Error::from_errno("spore-agent: bind vsock port " + std::to_string(port));
    if (listen(fd.get(), kListenBacklog) != 0)
        return Error::from_errno("spore-agent: listen on vsock");
    return fd;
}

Result<void> serve_agent(int listen_fd, AgentOptions options)
{
    Agent agent(listen_fd, std::move(options));
    TRY(agent.start());
    return agent.run();
}

} // namespace spore::agent
