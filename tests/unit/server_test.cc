// The bytes Server writes on the wire: the whole response goes out in one write, with the
// headers CivetWeb itself would send, and the connection stays open or closes as the
// client asked. One server for the suite: CivetWeb takes a while to stop.
#include "exporter/web/server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>

namespace nines::web {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server = new Server(ServerOptions{ListenAddress{"127.0.0.1", 0}});
    server->Route("/hello", [](const Request&) {
      Response response = Response::Text(200, "hello\n");
      response.headers.emplace_back("Vary", "Accept-Encoding");
      return response;
    });
    server->Start();
  }
  static void TearDownTestSuite() {
    delete server;
    server = nullptr;
  }

  // A connection to the server; -1 on failure.
  static int Connect() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(server->port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  // Sends `request` and reads one response of a body of `body_size` bytes (by its
  // Content-Length, which the test knows), or until the server closes.
  static std::string Exchange(int fd, const std::string& request, std::size_t body_size) {
    EXPECT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    std::string response;
    char buffer[4096];
    while (true) {
      const std::size_t end = response.find("\r\n\r\n");
      if (end != std::string::npos && response.size() >= end + 4 + body_size) {
        return response;
      }
      const ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n <= 0) {
        return response;
      }
      response.append(buffer, static_cast<std::size_t>(n));
    }
  }

  // Whether the server closed `fd` (read returns end of file).
  static bool Closed(int fd) {
    char byte = 0;
    return ::read(fd, &byte, 1) == 0;
  }

  static inline Server* server = nullptr;
};

TEST_F(ServerTest, KeepAliveResponses) {
  const int fd = Connect();
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 2; ++i) {
    const std::string response = Exchange(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 6);
    EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"
                                     "Content-Type: text/plain; charset=utf-8\r\n"
                                     "Content-Length: 6\r\n"
                                     "Vary: Accept-Encoding\r\n"
                                     "Date: "));
    EXPECT_THAT(response, MatchesRegex(".*\r\nDate: [A-Z][a-z][a-z], [0-9][0-9] [A-Z][a-z][a-z] "
                                       "[0-9]{4} [0-9][0-9]:[0-9][0-9]:[0-9][0-9] GMT\r\n.*"));
    EXPECT_THAT(response, HasSubstr("\r\nConnection: keep-alive\r\n\r\nhello\n"));
  }
  ::close(fd);
}

TEST_F(ServerTest, HeadHasNoBody) {
  const int fd = Connect();
  ASSERT_GE(fd, 0);
  const std::string head = Exchange(fd, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
  EXPECT_THAT(head, HasSubstr("Content-Length: 6\r\n"));
  EXPECT_THAT(head, testing::EndsWith("\r\n\r\n"));
  // The connection is still usable: no stray body bytes came before the next response.
  const std::string next = Exchange(fd, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 19);
  EXPECT_THAT(next, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(next, testing::EndsWith("\r\n\r\n404 page not found\n"));
  ::close(fd);
}

TEST_F(ServerTest, ClosesWhenTheClientAsks) {
  const int fd = Connect();
  ASSERT_GE(fd, 0);
  const std::string response =
      Exchange(fd, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 6);
  EXPECT_THAT(response, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_TRUE(Closed(fd));
  ::close(fd);
}

TEST_F(ServerTest, Http10ClosesUnlessAskedToKeepAlive) {
  int fd = Connect();
  ASSERT_GE(fd, 0);
  std::string response = Exchange(fd, "GET /hello HTTP/1.0\r\n\r\n", 6);
  EXPECT_THAT(response, StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_TRUE(Closed(fd));
  ::close(fd);

  fd = Connect();
  ASSERT_GE(fd, 0);
  response = Exchange(fd, "GET /hello HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 6);
  EXPECT_THAT(response, HasSubstr("\r\nConnection: keep-alive\r\n"));
  response = Exchange(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 6);
  EXPECT_THAT(response, StartsWith("HTTP/1.0 200 OK\r\n"));
  ::close(fd);
}

}  // namespace
}  // namespace nines::web
