#include "support/local_http_server.hpp"

#include <stdexcept>

namespace pv::test {

LocalHttpServer::LocalHttpServer() : server_(std::make_unique<httplib::Server>()) {
  server_->set_tcp_nodelay(true);
}

LocalHttpServer::LocalHttpServer(const std::string& cert_file, const std::string& key_file)
    : server_(std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str())),
      tls_(true) {
  if (!server_->is_valid()) {
    throw std::runtime_error("LocalHttpServer: cannot load " + cert_file + " / " + key_file);
  }
  server_->set_tcp_nodelay(true);
}

LocalHttpServer::~LocalHttpServer() {
  stop();
}

void LocalHttpServer::start() {
  const int port = server_->bind_to_any_port("127.0.0.1");
  if (port <= 0) {
    throw std::runtime_error("LocalHttpServer: cannot bind 127.0.0.1");
  }
  port_ = static_cast<uint16_t>(port);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // cpp-httplib 0.11.4 has no wait_until_ready(): poll is_running() (bounded).
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server_->is_running()) {
    stop();
    throw std::runtime_error("LocalHttpServer: server did not start");
  }
}

void LocalHttpServer::stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

std::string LocalHttpServer::url(const std::string& path, const std::string& host) const {
  return std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(port_) + path;
}

} // namespace pv::test
