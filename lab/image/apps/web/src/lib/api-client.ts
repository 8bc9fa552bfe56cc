// Browser client of the copilotos api: lab stand-in of apps/web/src/lib/api-client.ts.
//
// Nothing runs it in the lab (the lab's web service is nginx); it sits in the
// web image where tools reading the image look for it. Like the real client:
// in the browser the base URL is the page's own origin, requests carry
// credentials, one request waits at most 30 s, and a failed request is not
// tried again.

import axios, { AxiosInstance, AxiosRequestConfig } from 'axios'

function apiBaseUrl(): string {
  if (typeof window !== 'undefined') {
    return window.location.origin
  }
  return process.env.API_BASE_URL || 'http://api:8001'
}

export class ApiClient {
  private client: AxiosInstance

  constructor() {
    this.client = axios.create({
      baseURL: apiBaseUrl(),
      timeout: 30000,
      withCredentials: true,
      headers: { 'Content-Type': 'application/json' },
    })
  }

  async get<T>(path: string, config?: AxiosRequestConfig): Promise<T> {
    const response = await this.client.get<T>(path, config)
    return response.data
  }

  async post<T>(path: string, body: unknown, config?: AxiosRequestConfig): Promise<T> {
    const response = await this.client.post<T>(path, body, config)
    return response.data
  }

  health(): Promise<{ status: string }> {
    return this.get('/api/health')
  }
}

export const apiClient = new ApiClient()
